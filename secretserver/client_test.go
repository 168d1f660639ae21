package secretserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
)

const (
	alicePW     = "alice-Pa55-\u00e9"
	bobPW       = "bob-Pa55"
	connectorPW = "connector-Pa55"
	web01PW     = "web01-secret-Pa55"
	corpPW      = "corp-secret-Pa55"
)

var seedYAML = fmt.Sprintf(`
users:
  - {username: alice, password: %q}
  - {username: bob, password: %q}
  - {username: connector, password: %q, applicationAccount: true}
secrets:
  - {id: 42, name: web01 admin, template: Windows Account,
     fields: {machine: "127.0.0.1:13389", username: rdptest, password: %q},
     viewers: [alice, connector]}
  - {id: 43, name: corp admin, template: Active Directory Account,
     fields: {domain: CORP, username: admin, password: %q}, viewers: [alice, connector]}
  - {id: 44, name: bob's box, template: Unix Account, fields: {host: box, password: x}, viewers: [bob]}
`, alicePW, bobPW, connectorPW, web01PW, corpPW)

// clock is a settable clock shared by the client and the emulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	srv    *emulator.Server
	em     *emulator.Emulator
	client *secretserver.Client
	clock  *clock
}

type envOptions struct {
	logger logr.Logger
}

func start(t *testing.T, o envOptions) *env {
	t.Helper()
	seed, err := emulator.ParseSeed([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	srv, err := emulator.Start(seed, emulator.Options{Now: clk.Now, Logger: o.logger, TokenLifetime: 20 * time.Minute}, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	c, err := secretserver.NewClient(secretserver.Config{BaseURL: srv.URL, CABundle: srv.CAPEM, Now: clk.Now, Logger: o.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections) // runs before srv.Close: no HTTP/2 GOAWAY wait
	return &env{srv: srv, em: srv.Emulator, client: c, clock: clk}
}

func (e *env) alice() *secretserver.Session {
	return e.client.WithPassword(secretserver.Credentials{Username: "alice", Password: alicePW})
}

func TestLoginGetSecretAndField(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	if err := e.client.Health(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.alice()
	sec, err := s.GetSecret(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if sec.ID != 42 || sec.Name != "web01 admin" || sec.SecretTemplateID != 6003 || sec.SecretTemplateName != "Windows Account" {
		t.Fatalf("unexpected secret: %v", sec)
	}
	for slug, want := range map[string]string{"machine": "127.0.0.1:13389", "USERNAME": "rdptest", "password": web01PW, "Notes": ""} {
		if got, ok := sec.Field(slug); !ok || got != want {
			t.Errorf("Field(%q) = %q, %v; want %q", slug, got, ok, want)
		}
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v %s", sec, sec, sec, sec), web01PW) {
		t.Fatal("secret formatting printed the password")
	}

	ad, err := s.GetSecret(ctx, 43)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := ad.Field("domain"); d != "CORP" || ad.SecretTemplateID != 6001 {
		t.Fatalf("unexpected AD secret: %v", ad)
	}
	if _, ok := ad.Field("machine"); ok {
		t.Fatal("an AD account has no machine")
	}

	pw, err := s.GetField(ctx, 42, "password")
	if err != nil || pw != web01PW {
		t.Fatalf("GetField = %q, %v", pw, err)
	}
	if e.em.TokensIssued() != 1 {
		t.Fatalf("TokensIssued = %d, want 1 (token cached)", e.em.TokensIssued())
	}

	e.em.SetPassword(42, "rotated")
	if pw, err := s.GetField(ctx, 42, "password"); err != nil || pw != "rotated" {
		t.Fatalf("after SetPassword: %q, %v", pw, err)
	}
	if _, err := s.GetField(ctx, 42, "nosuchfield"); err == nil {
		t.Fatal("expected an error for an unknown field")
	}

	sec.Zero()
	if v, _ := sec.Field("password"); v != "" {
		t.Fatal("Zero kept the password")
	}
	if v, _ := sec.Field("username"); v != "rdptest" {
		t.Fatal("Zero cleared a non-password field")
	}
}

func TestSearchVisibility(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	tests := map[string]struct {
		user, pw string
		opts     secretserver.SearchOptions
		wantIDs  []int
		total    int
		hasNext  bool
	}{
		"alice sees hers":     {"alice", alicePW, secretserver.SearchOptions{}, []int{42, 43}, 2, false},
		"alice filters":       {"alice", alicePW, secretserver.SearchOptions{Text: "WEB01"}, []int{42}, 1, false},
		"alice pages":         {"alice", alicePW, secretserver.SearchOptions{Text: "admin", Take: 1}, []int{42}, 2, true},
		"alice second page":   {"alice", alicePW, secretserver.SearchOptions{Text: "admin", Take: 1, Skip: 1}, []int{43}, 2, false},
		"bob sees only his":   {"bob", bobPW, secretserver.SearchOptions{}, []int{44}, 1, false},
		"bob cannot find 42":  {"bob", bobPW, secretserver.SearchOptions{Text: "web01"}, nil, 0, false},
		"connector sees both": {"connector", connectorPW, secretserver.SearchOptions{Text: "admin"}, []int{42, 43}, 2, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := e.client.WithPassword(secretserver.Credentials{Username: tc.user, Password: tc.pw})
			page, err := s.SearchSecrets(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int
			for _, r := range page.Records {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.wantIDs) || page.Total != tc.total || page.HasNext != tc.hasNext {
				t.Fatalf("got ids %v total %d hasNext %v; want %v %d %v", ids, page.Total, page.HasNext, tc.wantIDs, tc.total, tc.hasNext)
			}
		})
	}
}

func TestForbiddenEqualsUnknown(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	bob := e.client.WithPassword(secretserver.Credentials{Username: "bob", Password: bobPW})
	var msgs []string
	for _, id := range []int{42, 999} { // forbidden, unknown
		_, err := bob.GetSecret(ctx, id)
		if !errors.Is(err, secretserver.ErrAccessDenied) {
			t.Fatalf("secret %d: err = %v, want ErrAccessDenied", id, err)
		}
		var apiErr *secretserver.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "API_AccessDenied" {
			t.Fatalf("secret %d: APIError = %+v", id, apiErr)
		}
		msgs = append(msgs, strings.ReplaceAll(err.Error(), fmt.Sprint(id), "N"))
		if _, err := bob.GetField(ctx, id, "password"); !errors.Is(err, secretserver.ErrAccessDenied) {
			t.Fatalf("field of %d: %v", id, err)
		}
		if _, err := bob.Audits(ctx, id, 0, 0); !errors.Is(err, secretserver.ErrAccessDenied) {
			t.Fatalf("audits of %d: %v", id, err)
		}
		if err := bob.AddViewComment(ctx, id, "hi"); !errors.Is(err, secretserver.ErrAccessDenied) {
			t.Fatalf("comment on %d: %v", id, err)
		}
	}
	if msgs[0] != msgs[1] {
		t.Fatalf("forbidden and unknown differ: %q vs %q", msgs[0], msgs[1])
	}
	if n := e.em.TokensIssued(); n != 1 {
		t.Fatalf("access denied must not cause logins: TokensIssued = %d", n)
	}
}

func TestWrongPassword(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	tests := map[string]secretserver.Credentials{
		"wrong password": {Username: "alice", Password: "nope"},
		"unknown user":   {Username: "mallory", Password: "nope"},
		"wrong domain":   {Username: "alice", Password: alicePW, Domain: "OTHER"},
	}
	for name, cr := range tests {
		t.Run(name, func(t *testing.T) {
			s := e.client.WithPassword(cr)
			_, err := s.Token(ctx)
			if !errors.Is(err, secretserver.ErrUnauthorized) {
				t.Fatalf("Token: %v, want ErrUnauthorized", err)
			}
			if _, err := s.GetSecret(ctx, 42); !errors.Is(err, secretserver.ErrUnauthorized) {
				t.Fatalf("GetSecret: %v, want ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), cr.Password) {
				t.Fatal("error contains the password")
			}
		})
	}
	if e.em.TokensIssued() != 0 {
		t.Fatal("a token was issued")
	}
}

func TestTokenRefreshBeforeExpiry(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	s := e.alice()
	first, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute) // plenty left: cached
	if tok, _ := s.Token(ctx); tok != first || e.em.TokensIssued() != 1 {
		t.Fatal("token renewed too early")
	}
	e.clock.Advance(8*time.Minute + 30*time.Second) // 90 s left of 20 min: renew
	if _, err := s.GetSecret(ctx, 42); err != nil {
		t.Fatal(err)
	}
	second, _ := s.Token(ctx)
	if second == first || e.em.TokensIssued() != 2 || e.em.Refreshes() != 1 {
		t.Fatalf("no refresh: issued %d refreshes %d", e.em.TokensIssued(), e.em.Refreshes())
	}
	// The old token still works until it expires; the new one after that.
	e.clock.Advance(5 * time.Minute)
	if _, err := s.GetSecret(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if e.em.TokensIssued() != 2 {
		t.Fatal("unexpected renewal")
	}
	// Long idle: token expired, the refresh token still works (single use).
	e.clock.Advance(time.Hour)
	if _, err := s.GetSecret(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if e.em.Refreshes() != 2 || e.em.TokensIssued() != 3 {
		t.Fatalf("issued %d refreshes %d", e.em.TokensIssued(), e.em.Refreshes())
	}
}

func TestBearerTokenExpires(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	tok, err := e.alice().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := e.client.WithToken(tok)
	if _, err := user.GetSecret(ctx, 42); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(21 * time.Minute)
	_, err = user.GetSecret(ctx, 42)
	var apiErr *secretserver.APIError
	if !errors.Is(err, secretserver.ErrUnauthorized) || !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("err = %v, want 401 ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), tok) || strings.Contains(fmt.Sprintf("%v %+v", user, *user), tok) {
		t.Fatal("token leaked into an error or String")
	}
}

func TestRetryOnceAfterRevokedToken(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	s := e.alice()
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := e.client.WithToken(tok)
	if err := other.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetSecret(ctx, 42); !errors.Is(err, secretserver.ErrUnauthorized) {
		t.Fatalf("logged-out token session: %v", err)
	}
	sec, err := s.GetSecret(ctx, 42)
	if err != nil {
		t.Fatalf("no transparent re-login: %v", err)
	}
	if sec.ID != 42 || e.em.TokensIssued() != 2 || e.em.Refreshes() != 0 {
		t.Fatalf("issued %d refreshes %d", e.em.TokensIssued(), e.em.Refreshes())
	}
	// Own logout: the next call logs in again.
	if err := s.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(ctx, 42); err != nil || e.em.TokensIssued() != 3 {
		t.Fatalf("after logout: %v, issued %d", err, e.em.TokensIssued())
	}
}

func TestConcurrentCallsLogInOnce(t *testing.T) {
	e := start(t, envOptions{})
	s := e.alice()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := s.GetSecret(context.Background(), 42); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.em.TokensIssued(); n != 1 {
		t.Fatalf("TokensIssued = %d, want 1", n)
	}
}

func TestViewCommentAudit(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	s := e.client.WithPassword(secretserver.Credentials{Username: "connector", Password: connectorPW})
	for _, c := range []string{"first session", "RDP session for alice to web01"} {
		if err := s.AddViewComment(ctx, 42, c); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Audits(ctx, 42, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || !page.HasNext || len(page.Records) != 1 {
		t.Fatalf("unexpected page: %+v", page)
	}
	r := page.Records[0]
	if r.Action != "VIEW" || r.Notes != "RDP session for alice to web01" || r.Username != "connector" || !r.DateRecorded.Equal(e.clock.Now()) {
		t.Fatalf("unexpected audit record: %+v", r)
	}
	rows := e.em.Audits(42)
	if len(rows) != 2 || rows[1].Notes != r.Notes || rows[1].ID != r.ID || rows[1].Action != "VIEW" {
		t.Fatalf("emulator audits: %+v", rows)
	}
	if err := s.AddViewComment(ctx, 42, ""); err == nil {
		t.Fatal("empty comment accepted")
	}
}

func TestInsecureAndInvalidURLs(t *testing.T) {
	tests := map[string]struct {
		cfg  secretserver.Config
		want error
	}{
		"http refused":         {secretserver.Config{BaseURL: "http://vault.example.com/SecretServer"}, secretserver.ErrInsecureURL},
		"HTTP refused":         {secretserver.Config{BaseURL: "HTTP://vault.example.com"}, secretserver.ErrInsecureURL},
		"http allowed":         {secretserver.Config{BaseURL: "http://127.0.0.1:1/SecretServer", AllowInsecureHTTP: true}, nil},
		"https":                {secretserver.Config{BaseURL: "https://vault.example.com/SecretServer/"}, nil},
		"empty":                {secretserver.Config{}, errAny},
		"no scheme":            {secretserver.Config{BaseURL: "vault.example.com"}, errAny},
		"ftp":                  {secretserver.Config{BaseURL: "ftp://vault.example.com"}, errAny},
		"no host":              {secretserver.Config{BaseURL: "https:///SecretServer"}, errAny},
		"user info":            {secretserver.Config{BaseURL: "https://u:p@vault.example.com"}, errAny},
		"bad escape":           {secretserver.Config{BaseURL: "https://vault.example.com/%zz"}, errAny},
		"bad CA":               {secretserver.Config{BaseURL: "https://vault.example.com", CABundle: []byte("nope")}, errAny},
		"CA and custom client": {secretserver.Config{BaseURL: "https://vault.example.com", CABundle: []byte("x"), HTTPClient: &http.Client{}}, errAny},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := secretserver.NewClient(tc.cfg)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want == errAny && err == nil:
				t.Fatal("expected an error")
			case tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Fatal("error contains URL user info")
			}
		})
	}
}

func TestHTMLAnd503(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	s := e.alice()
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}

	e.em.SetHTMLMode(true)
	for name, call := range map[string]func() error{
		"health": func() error { return e.client.Health(ctx) },
		"secret": func() error { _, err := s.GetSecret(ctx, 42); return err },
		"login":  func() error { _, err := e.alice().Token(ctx); return err },
	} {
		err := call()
		if !errors.Is(err, secretserver.ErrUnexpectedResponse) || !strings.Contains(err.Error(), "text/html instead of JSON; check the base URL") {
			t.Fatalf("HTML %s: %v", name, err)
		}
	}
	e.em.SetHTMLMode(false)

	e.em.SetUnavailable(true)
	for name, call := range map[string]func() error{
		"health": func() error { return e.client.Health(ctx) },
		"secret": func() error { _, err := s.GetSecret(ctx, 42); return err },
		"login":  func() error { _, err := e.alice().Token(ctx); return err },
	} {
		err := call()
		var apiErr *secretserver.APIError
		if !errors.Is(err, secretserver.ErrUnavailable) || !errors.As(err, &apiErr) || apiErr.Status != 503 {
			t.Fatalf("503 %s: %v", name, err)
		}
	}
	e.em.SetUnavailable(false)
	if _, err := s.GetSecret(ctx, 42); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := secretserver.NewClient(secretserver.Config{BaseURL: "https://" + addr + "/SecretServer", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); !errors.Is(err, secretserver.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	_, err = c.WithPassword(secretserver.Credentials{Username: "alice", Password: alicePW}).GetSecret(context.Background(), 42)
	if !errors.Is(err, secretserver.ErrUnavailable) || strings.Contains(err.Error(), alicePW) {
		t.Fatalf("err = %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("cause not wrapped: %v", err)
	}

	// A caller's cancellation is not an outage.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Health(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, secretserver.ErrUnavailable) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestCABundleTrust(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	other, err := pki.NewCA("unrelated")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		ca     []byte
		wantOK bool
	}{
		"emulator CA":  {e.srv.CAPEM, true},
		"system roots": {nil, false},
		"other CA":     {other.CertPEM, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := secretserver.NewClient(secretserver.Config{BaseURL: e.srv.URL, CABundle: tc.ca})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			err = c.Health(ctx)
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var verr *tls.CertificateVerificationError
			var uerr x509.UnknownAuthorityError
			if !errors.Is(err, secretserver.ErrUnavailable) || (!errors.As(err, &verr) && !errors.As(err, &uerr)) {
				t.Fatalf("err = %v, want ErrUnavailable wrapping a TLS verification error", err)
			}
		})
	}
}

// TestNoSecretsInLogsOrErrors runs a full flow with verbose logging of both
// sides and checks that no password or token shows up anywhere.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	e := start(t, envOptions{logger: logger})
	ctx := context.Background()

	secrets := []string{alicePW, bobPW, connectorPW, web01PW, corpPW, "wrong-Pa55", "123456"}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	creds := secretserver.Credentials{Username: "alice", Password: alicePW, OTP: "123456"}
	s := e.client.WithPassword(creds)
	logger.Info("credentials", "creds", creds, "session", s)
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok)
	sec, err := s.GetSecret(ctx, 42)
	keep(err)
	logger.Info("secret", "secret", sec, "items", sec.Items)
	_, err = s.GetField(ctx, 42, "password")
	keep(err)
	_, err = s.SearchSecrets(ctx, secretserver.SearchOptions{Text: "admin"})
	keep(err)
	keep(s.AddViewComment(ctx, 42, "flow"))
	_, err = s.Audits(ctx, 42, 0, 0)
	keep(err)
	e.clock.Advance(19 * time.Minute) // refresh
	_, err = s.GetSecret(ctx, 43)
	keep(err)
	tok2, _ := s.Token(ctx)
	secrets = append(secrets, tok2)
	keep(e.client.WithToken(tok2).Logout(ctx)) // the session re-logs in
	_, err = s.GetSecret(ctx, 43)
	keep(err)
	tok3, _ := s.Token(ctx)
	secrets = append(secrets, tok3)
	if len(errs) > 0 {
		t.Fatalf("flow failed: %v", errs)
	}

	// Failures.
	_, err = e.client.WithPassword(secretserver.Credentials{Username: "alice", Password: "wrong-Pa55"}).Token(ctx)
	errs = append(errs, err)
	_, err = e.client.WithToken(tok2).GetSecret(ctx, 42) // revoked
	errs = append(errs, err)
	_, err = s.GetSecret(ctx, 44) // forbidden
	errs = append(errs, err)
	e.em.SetHTMLMode(true)
	_, err = s.GetSecret(ctx, 42)
	errs = append(errs, err)
	e.em.SetHTMLMode(false)
	e.em.SetUnavailable(true)
	_, err = e.client.WithPassword(creds).Token(ctx)
	errs = append(errs, err)
	e.em.SetUnavailable(false)
	for _, err := range errs {
		logger.Error(err, "failure")
	}

	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, "issued token") || !strings.Contains(logs, "obtained token") {
		t.Fatalf("expected verbose logs from both sides, got:\n%s", logs)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret (%d chars):\n%s", len(secret), logs)
		}
		for _, err := range errs {
			if err == nil {
				t.Error("expected an error")
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains a secret: %v", err)
			}
		}
	}
}

var errAny = errors.New("any error")

func TestCurrentUserNamesTheTokensOwner(t *testing.T) {
	e := start(t, envOptions{})
	ctx := context.Background()
	token, err := e.alice().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.client.WithToken(token).CurrentUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "alice" || u.ID == 0 {
		t.Fatalf("current user %+v", u)
	}
	if _, err := e.client.WithToken("not-a-token").CurrentUser(ctx); !errors.Is(err, secretserver.ErrUnauthorized) {
		t.Fatalf("unknown token: %v", err)
	}
}
