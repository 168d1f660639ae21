package secretserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Errors returned by the client; test for them with errors.Is. Most arrive
// wrapped in an *APIError that carries the HTTP status and the server's code.
var (
	// ErrAccessDenied: HTTP 403, or HTTP 400 with errorCode API_AccessDenied.
	// Secret Server answers the same for secrets that do not exist and for
	// secrets the caller may not see.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnauthorized: the token endpoint rejected the credentials, or an API
	// call was answered with 401 even after logging in again.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: Secret Server could not be reached (dial, TLS, timeout)
	// or answered with a 5xx status. The cause is wrapped as well.
	ErrUnavailable = errors.New("secret server unavailable")
	// ErrInsecureURL: the base URL is not https:// and AllowInsecureHTTP is off.
	ErrInsecureURL = errors.New("insecure base URL: https:// is required")
	// ErrUnexpectedResponse: an answer that is not the documented JSON, for
	// example an HTML page with status 200, a redirect, or an oversized body.
	ErrUnexpectedResponse = errors.New("unexpected response")
)

// APIError is an error answer from Secret Server. Error() never contains the
// request; Message is the server's message, shortened.
type APIError struct {
	Status  int
	Code    string // errorCode of API errors, error of token errors
	Message string

	kind error // one of the sentinel errors above, or nil
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.kind != nil {
		b.WriteString(e.kind.Error())
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel error matching the answer, if any.
func (e *APIError) Unwrap() error { return e.kind }

const maxMessageLen = 300

// statusError turns a non-2xx answer into an *APIError. Only the fields known
// to carry a message are read from the body.
func statusError(resp *http.Response, body []byte, tokenEndpoint bool) *APIError {
	e := &APIError{Status: resp.StatusCode}
	isJSON := jsonMediaType(resp.Header.Get("Content-Type"))
	if isJSON {
		var p struct {
			Message          string `json:"message"`
			ErrorCode        string `json:"errorCode"`
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = decodeJSON(body, &p) // best effort: a malformed error body still is an error
		e.Code = shorten(firstNonEmpty(p.ErrorCode, p.Error))
		e.Message = shorten(firstNonEmpty(p.Message, p.ErrorDescription))
	}
	s := resp.StatusCode
	switch {
	case s >= 500:
		e.kind = ErrUnavailable
	case s >= 300 && s < 400:
		e.kind = ErrUnexpectedResponse
		e.Message = shorten("redirected to " + resp.Header.Get("Location") + "; check the base URL")
	case tokenEndpoint && (s == http.StatusBadRequest || s == http.StatusUnauthorized):
		e.kind = ErrUnauthorized
	case s == http.StatusUnauthorized:
		e.kind = ErrUnauthorized
	case s == http.StatusForbidden:
		e.kind = ErrAccessDenied
	case s == http.StatusBadRequest && strings.EqualFold(e.Code, "API_AccessDenied"):
		e.kind = ErrAccessDenied
	case !isJSON && len(body) > 0:
		e.kind = ErrUnexpectedResponse
		e.Message = "answered with " + mediaType(resp.Header.Get("Content-Type")) + " instead of JSON; check the base URL"
	}
	return e
}

func hasStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func shorten(s string) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "?")
	if utf8.RuneCountInString(s) <= maxMessageLen {
		return s
	}
	r := []rune(s)
	return string(r[:maxMessageLen]) + "…"
}
