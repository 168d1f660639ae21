// Package storetest is the contract every sessionstore.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// Clock is a settable clock for tests, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at a fixed time.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Harness tells the contract how to get stores.
type Harness struct {
	// Open returns an empty store that uses clock.
	Open func(t *testing.T, clock *Clock) sessionstore.Store
	// Replica returns another handle on the same data, as a second proxy replica would have
	// (for an in-process store, the store itself).
	Replica func(t *testing.T, s sessionstore.Store, clock *Clock) sessionstore.Store
}

// NewSession returns a valid Session for tk that expires after ttl from now.
func NewSession(tk ticket.Ticket, now time.Time, ttl time.Duration) *v1alpha1.Session {
	s := &v1alpha1.Session{
		Spec: v1alpha1.SessionSpec{
			ClusterRef:  "front-door",
			LauncherRef: "rdp",
			User:        "alice",
			SecretID:    42,
			SecretName:  "web01 admin",
			Target:      "127.0.0.1:13389",
			TicketHash:  tk.Hash(),
			ExpiresAt:   metav1.NewTime(now.Add(ttl).Truncate(time.Second)),
		},
	}
	s.Name = tk.ID
	return s
}

// Forge returns a ticket with tk's ID and another secret part.
func Forge(t testing.TB, tk ticket.Ticket) ticket.Ticket {
	other, err := ticket.New()
	if err != nil {
		t.Fatal(err)
	}
	text := other.Text()
	forged, err := ticket.Parse(ticket.Prefix + "." + tk.ID + text[len(ticket.Prefix)+1+len(other.ID):])
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

type fixture struct {
	t     *testing.T
	clock *Clock
	store sessionstore.Store
	ctx   context.Context
}

func (f *fixture) issue(ttl time.Duration) ticket.Ticket {
	f.t.Helper()
	tk, err := ticket.New()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.Create(f.ctx, NewSession(tk, f.clock.Now(), ttl)); err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return tk
}

func (f *fixture) get(name string) *v1alpha1.Session {
	f.t.Helper()
	s, err := f.store.Get(f.ctx, name)
	if err != nil {
		f.t.Fatalf("get %s: %v", name, err)
	}
	return s
}

func (f *fixture) claim(tk ticket.Ticket, ip string) (*v1alpha1.Session, bool, error) {
	return f.store.Claim(f.ctx, tk, sessionstore.ClaimRequest{ClientAddress: ip, Proxy: "proxy-0"})
}

func (f *fixture) wantRefused(tk ticket.Ticket, ip string, want error) {
	f.t.Helper()
	_, _, err := f.claim(tk, ip)
	if !errors.Is(err, want) {
		f.t.Fatalf("claim from %s: got %v, want %v", ip, err, want)
	}
	if err != nil && containsSecret(err.Error(), tk) {
		f.t.Fatalf("error %q contains the ticket", err)
	}
}

func containsSecret(s string, tk ticket.Ticket) bool {
	text := tk.Text()
	verifier := text[len(ticket.Prefix)+1+len(tk.ID)+1:]
	return len(verifier) > 0 && (strings.Contains(s, verifier) || strings.Contains(s, text))
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	setup := func(t *testing.T) *fixture {
		clock := NewClock()
		return &fixture{t: t, clock: clock, store: h.Open(t, clock), ctx: context.Background()}
	}

	t.Run("CreateGetDelete", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		got := f.get(tk.ID)
		if got.EffectivePhase() != v1alpha1.SessionIssued || got.Spec.User != "alice" || got.Spec.TicketHash != tk.Hash() {
			t.Fatalf("unexpected session %+v", got)
		}
		if err := f.store.Create(f.ctx, NewSession(tk, f.clock.Now(), time.Minute)); !errors.Is(err, sessionstore.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		list, err := f.store.List(f.ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %d sessions, %v", len(list), err)
		}
		if err := f.store.Delete(f.ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Get(f.ctx, tk.ID); !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if err := f.store.Delete(f.ctx, tk.ID); err != nil {
			t.Fatalf("delete of a missing session: %v", err)
		}
	})

	t.Run("CreateRejectsInvalid", func(t *testing.T) {
		f := setup(t)
		tk, _ := ticket.New()
		bad := NewSession(tk, f.clock.Now(), time.Minute)
		bad.Name = "not-a-ticket-id"
		if err := f.store.Create(f.ctx, bad); err == nil {
			t.Fatal("created a session whose name is not a ticket id")
		}
		bad = NewSession(tk, f.clock.Now(), time.Minute)
		bad.Spec.TicketHash = ""
		if err := f.store.Create(f.ctx, bad); err == nil {
			t.Fatal("created a session without a ticket hash")
		}
	})

	t.Run("ClaimOnce", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		s, reused, err := f.claim(tk, "192.0.2.10")
		if err != nil || reused {
			t.Fatalf("first claim: reused=%v err=%v", reused, err)
		}
		if s.Status.Phase != v1alpha1.SessionConnecting || s.Status.ClientAddress != "192.0.2.10" ||
			s.Status.ProxyName != "proxy-0" || s.Status.ClaimedAt == nil {
			t.Fatalf("claimed session status %+v", s.Status)
		}
		f.clock.Advance(time.Second)
		f.wantRefused(tk, "192.0.2.99", sessionstore.ErrAlreadyUsed)
		got := f.get(tk.ID)
		if got.Status.Phase != v1alpha1.SessionConnecting || got.Status.RejectedAttempts != 1 || got.Status.Reason != "Claimed" ||
			got.Status.LastRejection == nil || got.Status.LastRejection.Reason != v1alpha1.ReasonTicketReused || got.Status.LastRejection.ClientAddress != "192.0.2.99" {
			t.Fatalf("after a replay: %+v", got.Status)
		}
	})

	t.Run("ReuseWindowSameClient", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		if _, _, err := f.claim(tk, "192.0.2.10"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(sessionstore.ReuseWindow - time.Second)
		if _, reused, err := f.claim(tk, "192.0.2.10"); err != nil || !reused {
			t.Fatalf("repeat inside the window: reused=%v err=%v", reused, err)
		}
		f.clock.Advance(2 * time.Second)
		f.wantRefused(tk, "192.0.2.10", sessionstore.ErrAlreadyUsed)
	})

	t.Run("NoReuseAfterEnd", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		if _, _, err := f.claim(tk, "192.0.2.10"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.UpdateStatus(f.ctx, tk.ID, func(st *v1alpha1.SessionStatus) error {
			st.Phase = v1alpha1.SessionEnded
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		f.wantRefused(tk, "192.0.2.10", sessionstore.ErrAlreadyUsed)
		if got := f.get(tk.ID); got.Status.Phase != v1alpha1.SessionEnded || got.Status.Reason == v1alpha1.ReasonTicketReused {
			t.Fatalf("a refused attempt changed the finished session's reason: %+v", got.Status)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(time.Minute)
		f.clock.Advance(time.Minute)
		f.wantRefused(tk, "192.0.2.10", sessionstore.ErrExpired)
		got := f.get(tk.ID)
		if got.Status.Phase != v1alpha1.SessionExpired || got.Status.Reason != v1alpha1.ReasonTicketExpired || got.Status.EndedAt == nil ||
			got.Status.RejectedAttempts != 1 {
			t.Fatalf("expired session status %+v", got.Status)
		}
		f.wantRefused(tk, "192.0.2.10", sessionstore.ErrExpired)
	})

	t.Run("Forged", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		f.wantRefused(Forge(t, tk), "192.0.2.66", sessionstore.ErrForged)
		got := f.get(tk.ID)
		if got.EffectivePhase() != v1alpha1.SessionIssued || got.Status.RejectedAttempts != 1 ||
			got.Status.LastRejection == nil || got.Status.LastRejection.Reason != v1alpha1.ReasonTicketForged {
			t.Fatalf("after a forged ticket: %+v", got.Status)
		}
		// A forgery does not burn the real ticket.
		if _, _, err := f.claim(tk, "192.0.2.10"); err != nil {
			t.Fatalf("real ticket after a forgery: %v", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		f := setup(t)
		tk, _ := ticket.New()
		f.wantRefused(tk, "192.0.2.10", sessionstore.ErrNotFound)
	})

	t.Run("UpdateStatus", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		s, err := f.store.UpdateStatus(f.ctx, tk.ID, func(st *v1alpha1.SessionStatus) error {
			st.Phase = v1alpha1.SessionActive
			return nil
		})
		if err != nil || s.Status.Phase != v1alpha1.SessionActive {
			t.Fatalf("update: %v %+v", err, s)
		}
		if got := f.get(tk.ID); got.Status.Phase != v1alpha1.SessionActive {
			t.Fatalf("stored phase %s", got.Status.Phase)
		}
		boom := errors.New("boom")
		if _, err := f.store.UpdateStatus(f.ctx, tk.ID, func(*v1alpha1.SessionStatus) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("mutate error not returned: %v", err)
		}
		if _, err := f.store.UpdateStatus(f.ctx, "s-aaaaaaaaaaaaaaaa", func(*v1alpha1.SessionStatus) error { return nil }); !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("update of a missing session: %v", err)
		}
	})

	t.Run("ConcurrentClaimsOneWinner", func(t *testing.T) {
		f := setup(t)
		tk := f.issue(15 * time.Minute)
		const racers = 8
		replicas := make([]sessionstore.Store, racers)
		for i := range replicas {
			replicas[i] = h.Replica(t, f.store, f.clock)
		}
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[i] = replicas[i].Claim(f.ctx, tk, sessionstore.ClaimRequest{
					ClientAddress: fmt.Sprintf("192.0.2.%d", i+1), Proxy: fmt.Sprintf("proxy-%d", i)})
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, sessionstore.ErrAlreadyUsed):
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d winners, want exactly 1", winners)
		}
		if got := f.get(tk.ID); got.Status.RejectedAttempts != racers-1 {
			t.Fatalf("rejected attempts = %d, want %d", got.Status.RejectedAttempts, racers-1)
		}
	})
}
