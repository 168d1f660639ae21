// Package secretserver is a client for the REST API of Delinea (Thycotic)
// Secret Server: OAuth2 password and refresh grants, secrets, fields,
// search, view comments and audits.
//
// Passwords, OTP codes, access and refresh tokens never appear in errors,
// log lines or String() output.
package secretserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/pki"
)

// DefaultTimeout bounds each HTTP request when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

const (
	tokenPath  = "/oauth2/token"
	apiPath    = "/api/v1"
	userAgent  = "sessionconnector-secretserver/1"
	otpHeader  = "OTP"
	formType   = "application/x-www-form-urlencoded"
	jsonType   = "application/json"
	acceptJSON = "application/json"
)

// Config configures a Client.
type Config struct {
	// BaseURL of Secret Server, e.g. https://vault.example.com/SecretServer.
	// It must be https:// unless AllowInsecureHTTP is set.
	BaseURL string
	// CABundle is PEM; when set, only these CAs are trusted (not the system
	// roots).
	CABundle []byte
	// AllowInsecureHTTP accepts http:// base URLs. Only for the local emulator.
	AllowInsecureHTTP bool
	// Timeout bounds each HTTP request; DefaultTimeout when zero.
	Timeout time.Duration
	// HTTPClient replaces the client built from CABundle (tests). It is used
	// as is, redirects included; it cannot be combined with CABundle.
	HTTPClient *http.Client
	// Now is the clock used for token lifetimes; time.Now when nil.
	Now func() time.Time
	// Logger receives debug logs (V(1)). Secrets are never logged.
	Logger logr.Logger
}

// Client talks to one Secret Server. It is safe for concurrent use; create
// Sessions from it with WithPassword or WithToken.
type Client struct {
	base    string // scheme://host/path without trailing slash
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
	log     logr.Logger
}

// NewClient validates cfg and returns a Client. No request is made.
func NewClient(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, http: cfg.HTTPClient, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log.GetSink() == nil {
		c.log = logr.Discard()
	}
	if c.http != nil {
		if len(cfg.CABundle) > 0 {
			return nil, errors.New("secretserver: CABundle and HTTPClient cannot be combined")
		}
		return c, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CABundle) > 0 {
		pool, err := pki.CertPool(cfg.CABundle)
		if err != nil {
			return nil, fmt.Errorf("secretserver: CA bundle: %w", err)
		}
		tlsConfig.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	c.http = &http.Client{
		Transport: tr,
		// A redirect means a wrong base URL; following it could send the
		// password form to another place. The 3xx becomes an error.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func parseBaseURL(raw string, allowHTTP bool) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("secretserver: base URL is required")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold user info
		}
		return "", fmt.Errorf("secretserver: invalid base URL: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return "", fmt.Errorf("secretserver: %w (got %s)", ErrInsecureURL, u.Redacted())
	default:
		return "", fmt.Errorf("secretserver: invalid base URL %s: scheme must be https", u.Redacted())
	}
	switch {
	case u.Host == "":
		return "", fmt.Errorf("secretserver: invalid base URL %s: no host", u.Redacted())
	case u.User != nil:
		return "", errors.New("secretserver: invalid base URL: user info is not allowed")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("secretserver: invalid base URL %s: query and fragment are not allowed", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// Health checks GET /api/v1/healthcheck. It needs no token.
func (c *Client) Health(ctx context.Context) error {
	body, err := c.roundTrip(ctx, &request{method: http.MethodGet, path: apiPath + "/healthcheck"}, "")
	if err != nil {
		return fmt.Errorf("secretserver: health check: %w", err)
	}
	var h struct {
		Healthy bool `json:"healthy"`
	}
	if err := decodeJSON(body, &h); err != nil {
		return fmt.Errorf("secretserver: health check: %w", err)
	}
	if !h.Healthy {
		return fmt.Errorf("secretserver: health check: %w: reported unhealthy", ErrUnavailable)
	}
	return nil
}

// CloseIdleConnections closes kept-alive connections to Secret Server, e.g.
// before shutting down.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// request is one HTTP request to Secret Server.
type request struct {
	method, path string
	query        url.Values
	form         url.Values // token endpoint only
	json         []byte     // JSON body
	otp          string
}

// roundTrip sends r with the bearer token (if any) and returns the body of a
// successful JSON answer. Other answers become errors (see statusError).
func (c *Client) roundTrip(ctx context.Context, r *request, bearer string) ([]byte, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	switch {
	case r.form != nil:
		body = strings.NewReader(r.form.Encode())
	case r.json != nil:
		body = bytes.NewReader(r.json)
	}
	req, err := http.NewRequestWithContext(reqCtx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", acceptJSON)
	req.Header.Set("User-Agent", userAgent)
	switch {
	case r.form != nil:
		req.Header.Set("Content-Type", formType)
	case r.json != nil:
		req.Header.Set("Content-Type", jsonType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if r.otp != "" {
		req.Header.Set(otpHeader, r.otp)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil { // the caller gave up; not an outage
			return nil, err
		}
		c.log.V(1).Info("secret server request failed", "method", r.method, "path", r.path, "duration", time.Since(start), "error", err.Error())
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	c.log.V(1).Info("secret server request", "method", r.method, "path", r.path, "status", resp.StatusCode, "duration", time.Since(start))

	data, err := readBody(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer clear(data)
		return nil, statusError(resp, data, r.path == tokenPath)
	}
	if err := checkJSON(resp.Header.Get("Content-Type"), data); err != nil {
		clear(data)
		return nil, err
	}
	return data, nil
}
