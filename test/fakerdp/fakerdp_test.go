package fakerdp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
)

// Passwords of the tests; none may reach a log line.
const (
	secretPassword = "Fake-Target-Pass-7"
	clientPassword = "Typed-By-The-User-3"
)

// checkNoPassword fails when a password of the test reached the logs.
func checkNoPassword(t *testing.T, b *logbuf.Buffer) {
	t.Helper()
	for _, pw := range []string{secretPassword, clientPassword} {
		if strings.Contains(b.String(), pw) {
			t.Errorf("a password (%d characters) appears in the logs", len(pw))
		}
	}
}

// capturedConnectInitial is the MCS Connect Initial a real FreeRDP client sent to xrdp.
func capturedConnectInitial(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "rdp", "mcs", "testdata", "golden", "freerdp-xrdp-tls.c2s.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frame, err := tpkt.ReadFrame(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func dialContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip sends pdu and checks that the same bytes come back.
func roundTrip(t *testing.T, c *fakerdp.Client, pdu []byte) {
	t.Helper()
	if err := c.Send(pdu); err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = c.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := c.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if !bytes.Equal(got, pdu) {
		t.Fatalf("echo of %d bytes came back as %d different bytes", len(pdu), len(got))
	}
}

func TestTargetDirect(t *testing.T) {
	tgt := fakerdp.StartTarget(t, fakerdp.TargetOptions{Password: secretPassword})
	cases := map[string]struct {
		opts fakerdp.ClientOptions
		want fakerdp.Logon
	}{
		"built connect initial, right password": {
			fakerdp.ClientOptions{Domain: "LAB", User: "alice", Password: secretPassword},
			fakerdp.Logon{Domain: "LAB", User: "alice", PasswordOK: true, Autologon: true}},
		"captured connect initial, wrong password": {
			fakerdp.ClientOptions{ConnectInitial: capturedConnectInitial(t), User: "bob", Password: clientPassword},
			fakerdp.Logon{User: "bob", Autologon: true}},
		"no password": {
			fakerdp.ClientOptions{User: "carol"},
			fakerdp.Logon{User: "carol"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := len(tgt.Logons())
			c, err := fakerdp.Dial(dialContext(t), tgt.Addr, "", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			logons := tgt.Logons()
			if len(logons) != before+1 || logons[before] != tc.want {
				t.Fatalf("logons %+v, want %+v last", logons, tc.want)
			}
			roundTrip(t, c, mustFrame(t, c, 144))
		})
	}
	if err := tgt.Err(); err != nil {
		t.Fatal(err)
	}
	if st := tgt.Stats(); st.Connections != 3 || st.Logons != 3 || st.GoodLogons != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// mustFrame builds a Send Data Request on the I/O channel carrying a Share Data PDU of n bytes.
func mustFrame(t *testing.T, c *fakerdp.Client, n int) []byte {
	t.Helper()
	payload, err := fakerdp.DataPDU(n, c.UserID())
	if err != nil {
		t.Fatal(err)
	}
	frame, err := c.DataFrame(payload)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// TestThroughTheProxy: a real proxy claims the ticket, fetches the secret from the Secret
// Server emulator, pins the target's certificate and hands the target the secret's
// credentials instead of the client's; the Session becomes Active, PDUs come back, the metrics
// count the session, and no password is logged.
func TestThroughTheProxy(t *testing.T) {
	logs := &logbuf.Buffer{}
	lab := fakerdp.StartLab(t, fakerdp.LabOptions{User: "fakeadmin", Domain: "LAB", Password: secretPassword, Logger: logs.Logger()})
	tk := lab.Issue(t)
	c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{
		ConnectInitial: capturedConnectInitial(t), User: "someone", Password: clientPassword})
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, logs)
	}
	defer c.Close()

	want := fakerdp.Logon{Domain: "LAB", User: "fakeadmin", PasswordOK: true, Autologon: true}
	if got := lab.Target.Logons(); len(got) != 1 || got[0] != want {
		t.Fatalf("the target saw %+v, want %+v", got, want)
	}
	s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionActive, 5*time.Second)
	if s.Status.StartedAt == nil || s.Status.ProxyName != "fakerdp-lab" {
		t.Fatalf("active session status %+v", s.Status)
	}

	big := mustFrame(t, c, 16<<10)
	fast, err := fakerdp.FastPathInput(300)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{big, fast, mustFrame(t, c, 32)} {
		roundTrip(t, c, p)
	}
	if got := lab.Metric("sessionconnector_proxy_handshakes_total", "outcome", "ok"); got != 1 {
		t.Fatalf("handshakes_total{outcome=ok} = %v", got)
	}
	relayed := int64(len(big) + len(fast) + len(mustFrame(t, c, 32)))
	for _, dir := range []string{"client_to_target", "target_to_client"} {
		if got := lab.Metric("sessionconnector_proxy_relayed_bytes_total", "direction", dir); int64(got) < relayed {
			t.Fatalf("relayed_bytes_total{direction=%s} = %v, want at least %d", dir, got, relayed)
		}
	}
	if got := lab.Metric("sessionconnector_proxy_active_sessions"); got != 1 {
		t.Fatalf("active_sessions = %v", got)
	}

	_ = c.Close()
	s = lab.WaitPhase(t, tk.ID, v1alpha1.SessionEnded, 5*time.Second)
	if s.Status.Reason != v1alpha1.ReasonClientDisconnect {
		t.Fatalf("ended session status %+v", s.Status)
	}
	if err := lab.Target.Err(); err != nil {
		t.Fatal(err)
	}
	checkNoPassword(t, logs)
}

// TestShutdownGrace: a short grace ends a live session as ProxyShutdown; a long one lets it go
// on (still relaying, while new connections are refused) until the client ends it.
func TestShutdownGrace(t *testing.T) {
	t.Run("short grace ends the session", func(t *testing.T) {
		logs := &logbuf.Buffer{}
		lab := fakerdp.StartLab(t, fakerdp.LabOptions{Password: secretPassword, Logger: logs.Logger()})
		tk := lab.Issue(t)
		c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		lab.WaitPhase(t, tk.ID, v1alpha1.SessionActive, 5*time.Second)

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := lab.Server.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want the grace's deadline", err)
		}
		_ = c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Recv(); err == nil {
			t.Fatal("the client's connection is still open")
		}
		s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionEnded, 5*time.Second)
		checkNoPassword(t, logs)
		if s.Status.Reason != proxy.ReasonShutdown {
			t.Fatalf("session status %+v, want reason %s", s.Status, proxy.ReasonShutdown)
		}
	})

	t.Run("long grace lets the client finish", func(t *testing.T) {
		lab := fakerdp.StartLab(t, fakerdp.LabOptions{Password: secretPassword})
		tk := lab.Issue(t)
		c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		lab.WaitPhase(t, tk.ID, v1alpha1.SessionActive, 5*time.Second)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- lab.Server.Shutdown(ctx) }()

		// Draining: new clients are turned away, the live session goes on.
		deadline := time.Now().Add(5 * time.Second)
		for {
			early, err := fakerdp.Dial(dialContext(t), lab.Addr, lab.Issue(t).Text(), fakerdp.ClientOptions{HandshakeTimeout: 2 * time.Second})
			if err != nil {
				break
			}
			_ = early.Close() // connected before Shutdown began
			if time.Now().After(deadline) {
				t.Fatal("the proxy still accepts sessions while draining")
			}
			time.Sleep(10 * time.Millisecond)
		}
		roundTrip(t, c, mustFrame(t, c, 1024))
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned (%v) while a session was live", err)
		case <-time.After(300 * time.Millisecond):
		}
		roundTrip(t, c, mustFrame(t, c, 1024))

		_ = c.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return after the client left")
		}
		s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionEnded, 5*time.Second)
		if s.Status.Reason != v1alpha1.ReasonClientDisconnect {
			t.Fatalf("session status %+v, want reason %s", s.Status, v1alpha1.ReasonClientDisconnect)
		}
	})
}

// TestProxyRelaysSlowPathPDUsOfAnyLength: after the Client Info PDU, a slow-path PDU on the I/O
// channel whose totalLength has bit 6 set (0x40-0x7F, 0xC0-0xFF, … bytes) must be relayed like
// any other, not taken for a second Client Info PDU.
func TestProxyRelaysSlowPathPDUsOfAnyLength(t *testing.T) {
	lab := fakerdp.StartLab(t, fakerdp.LabOptions{Password: secretPassword})
	for _, n := range []int{0x3F, 0x40, 0x46, 0x80, 0xC0, 0x1E4} {
		tk := lab.Issue(t)
		c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("%#x bytes", n), func(t *testing.T) { roundTrip(t, c, mustFrame(t, c, n)) })
		_ = c.Close()
	}
}
