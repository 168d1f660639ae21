package secretserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Session makes API calls as one Secret Server user. It is safe for
// concurrent use; at most one login or refresh runs at a time.
//
// A password session logs in lazily, caches the token and renews it shortly
// before it expires (refresh grant when Secret Server issued a refresh token,
// password grant otherwise). When an API call is answered with 401 it drops
// the token, logs in again once and retries the call once.
type Session struct {
	c     *Client
	creds *Credentials // nil for WithToken sessions
	sem   chan struct{}
	st    *tokenState // guarded by sem
}

type tokenState struct {
	access, refresh string
	lifetime        time.Duration // 0: unknown
	expiry          time.Time     // zero: unknown
}

// WithPassword returns a session that logs in with the password grant.
func (c *Client) WithPassword(cr Credentials) *Session {
	return &Session{c: c, creds: &cr, sem: make(chan struct{}, 1), st: &tokenState{}}
}

// WithToken returns a session that uses an existing bearer token, e.g. a
// user's. It cannot be renewed: a 401 answer is ErrUnauthorized.
func (c *Client) WithToken(bearer string) *Session {
	return &Session{c: c, sem: make(chan struct{}, 1), st: &tokenState{access: bearer}}
}

// String identifies the session without its token.
func (s *Session) String() string {
	if s.creds == nil {
		return "secretserver.Session{bearer token}"
	}
	return fmt.Sprintf("secretserver.Session{user %q}", s.creds.Username)
}

// Token returns a valid access token, logging in first when needed. Use it
// to check an account's credentials.
func (s *Session) Token(ctx context.Context) (string, error) {
	tok, err := s.token(ctx, "")
	if err != nil {
		return "", fmt.Errorf("secretserver: %w", err)
	}
	return tok, nil
}

// User is the answer of GET /api/v1/users/current (the fields the connector uses).
type User struct {
	ID          int    `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
}

// CurrentUser names the user the session acts as; it tells who a bearer token belongs to.
func (s *Session) CurrentUser(ctx context.Context) (*User, error) {
	var u User
	if err := s.call(ctx, &request{method: http.MethodGet, path: apiPath + "/users/current"}, &u); err != nil {
		return nil, fmt.Errorf("secretserver: current user: %w", err)
	}
	return &u, nil
}

// GetSecret returns secret id, password values included.
func (s *Session) GetSecret(ctx context.Context, id int) (*Secret, error) {
	var sec Secret
	if err := s.call(ctx, &request{method: http.MethodGet, path: secretPath(id)}, &sec); err != nil {
		return nil, fmt.Errorf("secretserver: get secret %d: %w", id, err)
	}
	return &sec, nil
}

// GetField returns one field of secret id by its slug.
func (s *Session) GetField(ctx context.Context, id int, slug string) (string, error) {
	if slug == "" {
		return "", errors.New("secretserver: get field: empty slug")
	}
	var v string
	r := &request{method: http.MethodGet, path: secretPath(id) + "/fields/" + url.PathEscape(slug)}
	if err := s.call(ctx, r, &v); err != nil {
		return "", fmt.Errorf("secretserver: get field %q of secret %d: %w", slug, id, err)
	}
	return v, nil
}

// SearchSecrets lists the secrets the user may see whose name matches
// opts.Text.
func (s *Session) SearchSecrets(ctx context.Context, opts SearchOptions) (*SecretPage, error) {
	q := url.Values{}
	if opts.Text != "" {
		q.Set("filter.searchText", opts.Text)
	}
	paging(q, opts.Take, opts.Skip)
	var page SecretPage
	if err := s.call(ctx, &request{method: http.MethodGet, path: apiPath + "/secrets", query: q}, &page); err != nil {
		return nil, fmt.Errorf("secretserver: search secrets: %w", err)
	}
	return &page, nil
}

// AddViewComment records comment as a VIEW audit of secret id. It is the
// public way to write an audit row.
func (s *Session) AddViewComment(ctx context.Context, id int, comment string) error {
	if comment == "" {
		return errors.New("secretserver: add view comment: empty comment")
	}
	// GUESS: ticketNumber and ticketSystemId are optional and sent as null.
	body, err := json.Marshal(struct {
		Comment        string  `json:"comment"`
		TicketNumber   *string `json:"ticketNumber"`
		TicketSystemID *int    `json:"ticketSystemId"`
	}{Comment: comment})
	if err != nil {
		return fmt.Errorf("secretserver: add view comment: %w", err)
	}
	r := &request{method: http.MethodPost, path: fmt.Sprintf("%s/secret-access-requests/secrets/%d/view-comment", apiPath, id), json: body}
	if err := s.call(ctx, r, nil); err != nil {
		return fmt.Errorf("secretserver: add view comment to secret %d: %w", id, err)
	}
	return nil
}

// Audits returns a page of the audit trail of secret id. take and skip are
// sent only when positive.
func (s *Session) Audits(ctx context.Context, id int, take, skip int) (*AuditPage, error) {
	q := url.Values{}
	paging(q, take, skip)
	var page AuditPage
	if err := s.call(ctx, &request{method: http.MethodGet, path: secretPath(id) + "/audits", query: q}, &page); err != nil {
		return nil, fmt.Errorf("secretserver: audits of secret %d: %w", id, err)
	}
	return &page, nil
}

// Logout revokes the session's token (POST /api/v1/oauth-expiration) and
// forgets it. A password session logs in again on its next call; a token
// session is unusable afterwards. Without a cached token Logout does nothing.
func (s *Session) Logout(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return fmt.Errorf("secretserver: logout: %w", err)
	}
	tok := s.st.access
	*s.st = tokenState{}
	s.unlock()
	if tok == "" {
		return nil
	}
	_, err := s.c.roundTrip(ctx, &request{method: http.MethodPost, path: apiPath + "/oauth-expiration"}, tok)
	if err != nil && !hasStatus(err, http.StatusUnauthorized) { // 401: already invalid
		return fmt.Errorf("secretserver: logout: %w", err)
	}
	return nil
}

// call performs an authenticated API request and decodes the answer into
// out (unless nil). On 401 a password session logs in again and retries once.
func (s *Session) call(ctx context.Context, r *request, out any) error {
	tok, err := s.token(ctx, "")
	if err != nil {
		return err
	}
	body, err := s.c.roundTrip(ctx, r, tok)
	if s.creds != nil && (hasStatus(err, http.StatusUnauthorized) || hasStatus(err, http.StatusForbidden)) {
		// Secret Server clients drop the cached token on 401 and 403. Only
		// a 401 is worth a retry: a 403 is about the resource.
		retry := hasStatus(err, http.StatusUnauthorized)
		s.c.log.V(1).Info("token rejected, dropping it", "user", s.creds.Username, "status", statusOf(err), "retry", retry)
		if !retry {
			if err := s.drop(ctx, tok); err != nil {
				return err
			}
		} else {
			if tok, err = s.token(ctx, tok); err != nil {
				return err
			}
			body, err = s.c.roundTrip(ctx, r, tok)
		}
	}
	if err != nil {
		return err
	}
	defer clear(body)
	if out == nil {
		return nil
	}
	if v, ok := out.(*string); ok {
		*v, err = decodeFieldValue(body)
		return err
	}
	return decodeJSON(body, out)
}

func (s *Session) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Session) unlock() { <-s.sem }

// drop forgets tok if it is still the cached token.
func (s *Session) drop(ctx context.Context, tok string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if s.st.access == tok {
		*s.st = tokenState{}
	}
	return nil
}

// token returns a usable access token. rejected is a token the server just
// answered 401 to: it is dropped together with its refresh token, unless
// another goroutine already replaced it.
func (s *Session) token(ctx context.Context, rejected string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	st := s.st
	if rejected != "" && st.access == rejected {
		*st = tokenState{}
	}
	if s.creds == nil {
		if st.access == "" {
			return "", fmt.Errorf("%w: bearer token rejected or logged out", ErrUnauthorized)
		}
		return st.access, nil
	}
	now := s.c.now()
	if st.access != "" && !st.renewDue(now) {
		return st.access, nil
	}

	var err error
	if st.refresh != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {st.refresh}}
		if err = s.grant(ctx, form, "", now); err == nil {
			return st.access, nil
		}
		if errors.Is(err, ErrUnauthorized) {
			st.refresh = "" // used up or revoked; fall back to the password
		}
		s.c.log.V(1).Info("token refresh failed", "user", s.creds.Username, "error", err.Error())
	}
	if st.refresh == "" {
		form := url.Values{"grant_type": {"password"}, "username": {s.creds.Username}, "password": {s.creds.Password}}
		if s.creds.Domain != "" {
			form.Set("domain", s.creds.Domain)
		}
		if err = s.grant(ctx, form, s.creds.OTP, now); err == nil {
			return st.access, nil
		}
	}
	if st.valid(now) { // renewal failed early; the current token still works
		s.c.log.V(1).Info("keeping current token after failed renewal", "user", s.creds.Username, "expiresIn", st.expiry.Sub(now))
		return st.access, nil
	}
	st.access, st.expiry = "", time.Time{} // a refresh token that failed for an outage is kept
	return "", fmt.Errorf("log in as %q: %w", s.creds.Username, err)
}

// grant calls the token endpoint and stores the new token. The caller holds
// the lock.
func (s *Session) grant(ctx context.Context, form url.Values, otp string, now time.Time) error {
	body, err := s.c.roundTrip(ctx, &request{method: http.MethodPost, path: tokenPath, form: form, otp: otp}, "")
	if err != nil {
		return err
	}
	defer clear(body)
	t, err := decodeToken(body)
	if err != nil {
		return err
	}
	lifetime := time.Duration(t.ExpiresIn) * time.Second
	*s.st = tokenState{access: t.AccessToken, refresh: t.RefreshToken, lifetime: lifetime}
	if lifetime > 0 {
		s.st.expiry = now.Add(lifetime)
	}
	s.c.log.V(1).Info("obtained token", "user", s.creds.Username, "grant", form.Get("grant_type"), "expiresIn", lifetime, "refreshable", t.RefreshToken != "")
	return nil
}

// renewDue reports whether the token is close to expiry: less than a tenth
// of its lifetime or 30 s left (at most half the lifetime).
func (t *tokenState) renewDue(now time.Time) bool {
	if t.expiry.IsZero() {
		return false
	}
	margin := max(t.lifetime/10, 30*time.Second)
	margin = min(margin, t.lifetime/2)
	return t.expiry.Sub(now) < margin
}

func (t *tokenState) valid(now time.Time) bool {
	return t.access != "" && (t.expiry.IsZero() || now.Before(t.expiry))
}

func secretPath(id int) string { return apiPath + "/secrets/" + strconv.Itoa(id) }

func paging(q url.Values, take, skip int) {
	if take > 0 {
		q.Set("take", strconv.Itoa(take))
	}
	if skip > 0 {
		q.Set("skip", strconv.Itoa(skip))
	}
}

func statusOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
