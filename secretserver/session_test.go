package secretserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeSS is a scripted Secret Server for narrow tests of the token logic.
type fakeSS struct {
	mu        sync.Mutex
	grants    []string // grant types received
	apiCalls  int
	tokenFail int    // status for token requests (0: succeed)
	refreshOK bool   // whether refresh grants succeed
	apiStatus int    // status for API calls (0: 200)
	expiresIn string // JSON value of expires_in
	n         int
}

func (f *fakeSS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/oauth2/token" {
		_ = r.ParseForm()
		g := r.PostForm.Get("grant_type")
		f.grants = append(f.grants, g)
		if f.tokenFail != 0 || (g == "refresh_token" && !f.refreshOK) {
			w.WriteHeader(max(f.tokenFail, 400))
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		f.n++
		fmt.Fprintf(w, `{"access_token":"t%d","token_type":"bearer","expires_in":%s,"refresh_token":"r%d"}`, f.n, f.expiresIn, f.n)
		return
	}
	f.apiCalls++
	if f.apiStatus != 0 {
		w.WriteHeader(f.apiStatus)
		fmt.Fprint(w, `{"message":"no"}`)
		return
	}
	fmt.Fprint(w, `{"id":1}`)
}

func (f *fakeSS) set(fn func(f *fakeSS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSS) stats() (grants []string, apiCalls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.grants...), f.apiCalls
}

func newFake(t *testing.T, f *fakeSS, now func() time.Time) *Session {
	t.Helper()
	if f.expiresIn == "" {
		f.expiresIn = "1200"
	}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	c, err := NewClient(Config{BaseURL: ts.URL, AllowInsecureHTTP: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c.WithPassword(Credentials{Username: "u", Password: "p"})
}

func TestRetryOnlyOnce(t *testing.T) {
	f := &fakeSS{apiStatus: http.StatusUnauthorized}
	s := newFake(t, f, nil)
	_, err := s.GetSecret(context.Background(), 1)
	if !errors.Is(err, ErrUnauthorized) || !hasStatus(err, 401) {
		t.Fatalf("err = %v", err)
	}
	grants, calls := f.stats()
	if fmt.Sprint(grants) != "[password password]" || calls != 2 {
		t.Fatalf("grants %v calls %d; want one re-login and one retry", grants, calls)
	}
}

func TestForbiddenDropsToken(t *testing.T) {
	f := &fakeSS{apiStatus: http.StatusForbidden}
	s := newFake(t, f, nil)
	if _, err := s.GetSecret(context.Background(), 1); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v", err)
	}
	f.set(func(f *fakeSS) { f.apiStatus = 0 })
	if _, err := s.GetSecret(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	grants, calls := f.stats()
	if fmt.Sprint(grants) != "[password password]" || calls != 2 {
		t.Fatalf("grants %v calls %d; want a new login after 403 and no retry", grants, calls)
	}
}

func TestRenewalFallbacks(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	ctx := context.Background()

	f := &fakeSS{refreshOK: false}
	s := newFake(t, f, clock)
	if _, err := s.Token(ctx); err != nil {
		t.Fatal(err)
	}
	// Rejected refresh token: fall back to the password grant.
	advance(19 * time.Minute)
	tok, err := s.Token(ctx)
	if err != nil || tok != "t2" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if grants, _ := f.stats(); fmt.Sprint(grants) != "[password refresh_token password]" {
		t.Fatalf("grants %v", grants)
	}
	// Outage during renewal: keep the still valid token.
	f.set(func(f *fakeSS) { f.tokenFail = http.StatusServiceUnavailable; f.refreshOK = true })
	advance(19 * time.Minute)
	if tok, err := s.Token(ctx); err != nil || tok != "t2" {
		t.Fatalf("token %q, %v; want the current token", tok, err)
	}
	// Expired during the outage: fail with ErrUnavailable, keep the refresh token.
	advance(2 * time.Minute)
	if _, err := s.Token(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	f.set(func(f *fakeSS) { f.tokenFail = 0 })
	if tok, err := s.Token(ctx); err != nil || tok != "t3" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if grants, _ := f.stats(); grants[len(grants)-1] != "refresh_token" {
		t.Fatalf("grants %v; want the kept refresh token used", grants)
	}
}

func TestUnknownLifetimeNeverRenews(t *testing.T) {
	f := &fakeSS{expiresIn: "null"}
	now := time.Now()
	s := newFake(t, f, func() time.Time { return now })
	for range 3 {
		if _, err := s.GetSecret(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if grants, _ := f.stats(); len(grants) != 1 {
		t.Fatalf("grants %v", grants)
	}
}

func TestTokenSessionLogout(t *testing.T) {
	f := &fakeSS{}
	ts := httptest.NewServer(f)
	defer ts.Close()
	c, err := NewClient(Config{BaseURL: ts.URL, AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	s := c.WithToken("user-token")
	if err := s.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(context.Background(), 1); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Logout(context.Background()); err != nil {
		t.Fatal("second logout:", err)
	}
	if _, calls := f.stats(); calls != 1 {
		t.Fatalf("calls %d", calls)
	}
}
