package secretserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
)

// maxBodySize caps every response body read from Secret Server.
const maxBodySize = 4 << 20

// readBody reads at most maxBodySize bytes and fails when the body is longer.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrUnavailable, err)
	}
	if len(b) > maxBodySize {
		clear(b)
		return nil, fmt.Errorf("%w: response body exceeds %d MiB", ErrUnexpectedResponse, maxBodySize>>20)
	}
	return b, nil
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(contentType))
	}
	return mt
}

func jsonMediaType(contentType string) bool {
	mt := mediaType(contentType)
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

// checkJSON rejects successful answers that are not JSON. Secret Server
// answers some failures (wrong base URL, login pages of a proxy) with status
// 200 and an HTML page.
func checkJSON(contentType string, body []byte) error {
	switch mt := mediaType(contentType); {
	case jsonMediaType(contentType):
		return nil
	case mt == "" && (len(body) == 0 || json.Valid(body)):
		return nil
	case mt == "":
		return fmt.Errorf("%w: Secret Server answered without a content type and not with JSON; check the base URL", ErrUnexpectedResponse)
	default:
		return fmt.Errorf("%w: Secret Server answered with %s instead of JSON; check the base URL", ErrUnexpectedResponse, mt)
	}
}

// decodeJSON decodes body into v. Its errors never quote the input: a
// response can carry passwords.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: empty response body", ErrUnexpectedResponse)
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: malformed JSON at offset %d", ErrUnexpectedResponse, syn.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ") // Value may quote a number
		return fmt.Errorf("%w: JSON %s where %s was expected (field %q)", ErrUnexpectedResponse, kind, typ.Type, typ.Field)
	case errors.As(err, new(decodeError)):
		return fmt.Errorf("%w: %w", ErrUnexpectedResponse, err)
	default: // other encoding/json errors may quote the input
		return fmt.Errorf("%w: malformed JSON", ErrUnexpectedResponse)
	}
}

// tokenResponse is the answer of POST /oauth2/token.
type tokenResponse struct {
	AccessToken  string  `json:"access_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    seconds `json:"expires_in"`
	RefreshToken string  `json:"refresh_token"`
}

// decodeToken decodes and checks a token response.
func decodeToken(body []byte) (tokenResponse, error) {
	var t tokenResponse
	if err := decodeJSON(body, &t); err != nil {
		return tokenResponse{}, fmt.Errorf("token response: %w", err)
	}
	switch {
	case t.AccessToken == "":
		return tokenResponse{}, fmt.Errorf("token response: %w: no access_token", ErrUnexpectedResponse)
	case t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer"):
		return tokenResponse{}, fmt.Errorf("token response: %w: token type %q is not bearer", ErrUnexpectedResponse, shorten(t.TokenType))
	case t.ExpiresIn < 0:
		return tokenResponse{}, fmt.Errorf("token response: %w: negative expires_in", ErrUnexpectedResponse)
	}
	return t, nil
}

// seconds is expires_in: documented as a string, sent as a number. Both are
// accepted; null or missing means unknown (0).
type seconds int64

// decodeError is returned by this package's JSON decoders; it never quotes
// the input.
type decodeError string

func (e decodeError) Error() string { return string(e) }

const (
	errBadSeconds   decodeError = "expires_in is not a number of seconds"
	errBadTimestamp decodeError = "date is not an RFC 3339 timestamp"
)

func (s *seconds) UnmarshalJSON(b []byte) error {
	str := string(bytes.TrimSpace(b))
	if str == "null" {
		*s = 0
		return nil
	}
	if unq, err := strconv.Unquote(str); err == nil {
		str = strings.TrimSpace(unq)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || f != f || f > 1<<40 || f < -(1<<40) {
		return errBadSeconds
	}
	*s = seconds(f)
	return nil
}

// decodeFieldValue decodes the answer of GET /secrets/{id}/fields/{slug}: a
// JSON string literal. GUESS: numbers and booleans are accepted as text too,
// null is the empty string.
func decodeFieldValue(body []byte) (string, error) {
	var raw json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return "", err
	}
	var v any
	if err := decodeJSON(raw, &v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	case bool, float64:
		return string(bytes.TrimSpace(raw)), nil
	default:
		return "", fmt.Errorf("%w: field value is not a JSON string", ErrUnexpectedResponse)
	}
}
