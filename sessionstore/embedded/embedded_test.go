package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/ticket"
)

func open(t *testing.T, dir string, clock *storetest.Clock) *Store {
	t.Helper()
	s, err := Open(dir, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, clock *storetest.Clock) sessionstore.Store { return open(t, t.TempDir(), clock) },
		Replica: func(_ *testing.T, s sessionstore.Store, _ *storetest.Clock) sessionstore.Store {
			return s
		},
	})
}

func TestSurvivesReopen(t *testing.T) {
	dir, clock, ctx := t.TempDir(), storetest.NewClock(), context.Background()
	s, err := Open(dir, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	used, _ := ticket.New()
	fresh, _ := ticket.New()
	for _, tk := range []ticket.Ticket{used, fresh} {
		if err := s.Create(ctx, storetest.NewSession(tk, clock.Now(), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Claim(ctx, used, sessionstore.ClaimRequest{ClientAddress: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, clock)
	if _, _, err := s2.Claim(ctx, used, sessionstore.ClaimRequest{ClientAddress: "192.0.2.2"}); err == nil {
		t.Fatal("a used ticket was accepted after a restart")
	}
	if _, _, err := s2.Claim(ctx, fresh, sessionstore.ClaimRequest{ClientAddress: "192.0.2.2"}); err != nil {
		t.Fatalf("fresh ticket after restart: %v", err)
	}
}

func TestTornLastLineIsDropped(t *testing.T) {
	dir, clock, ctx := t.TempDir(), storetest.NewClock(), context.Background()
	s := open(t, dir, clock)
	tk, _ := ticket.New()
	if err := s.Create(ctx, storetest.NewSession(tk, clock.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	f, err := os.OpenFile(filepath.Join(dir, JournalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"op":"put","session":{"metadata":{"na`)
	_ = f.Close()
	s2 := open(t, dir, clock)
	if _, err := s2.Get(ctx, tk.ID); err != nil {
		t.Fatalf("session lost after a torn write: %v", err)
	}
}

func TestCorruptJournalIsAnError(t *testing.T) {
	dir := t.TempDir()
	journal := "not json\n" + `{"op":"delete","name":"x"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, JournalName), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("Open = %v, want an error naming line 1", err)
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	dir := t.TempDir()
	_ = open(t, dir, storetest.NewClock())
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want 'in use'", err)
	}
}

func TestCompaction(t *testing.T) {
	dir, clock, ctx := t.TempDir(), storetest.NewClock(), context.Background()
	s := open(t, dir, clock)
	tk, _ := ticket.New()
	if err := s.Create(ctx, storetest.NewSession(tk, clock.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		if _, err := s.UpdateStatus(ctx, tk.ID, func(st *v1alpha1.SessionStatus) error { st.RejectedAttempts++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, JournalName))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines > 2000 {
		t.Fatalf("journal has %d lines, compaction did not run", lines)
	}
	_ = s.Close()
	s2 := open(t, dir, clock)
	got, err := s2.Get(ctx, tk.ID)
	if err != nil || got.Status.RejectedAttempts != 3000 {
		t.Fatalf("after compaction: %v %+v", err, got)
	}
}
