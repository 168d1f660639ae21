package xrdppeer

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/peers"
)

// TestFreeRDPReachesDesktopAndShell connects the real FreeRDP client straight to the peer and
// checks what the proxy's end-to-end tests rely on: the certificate pin, a logon seen in
// xrdp's log and by the client, the session's desktop colour on the client's screen, keys typed
// in the client reaching the session's shell, and no process left behind.
func TestFreeRDPReachesDesktopAndShell(t *testing.T) {
	if testing.Short() && !peers.Required() {
		t.Skip("end-to-end test with xrdp and xfreerdp; skipped in -short mode")
	}
	before := strays(t)
	began := time.Now()
	p := Start(t)
	t.Logf("peer on %s ready in %v", p.Addr, time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	got, err := PresentedCertSHA256(ctx, p.Addr)
	if err != nil {
		t.Fatalf("PresentedCertSHA256: %v", err)
	}
	if got != p.CertSHA256() {
		t.Fatalf("xrdp presents certificate %s, CertSHA256 says %s", got, p.CertSHA256())
	}

	display := peers.StartXvfb(t)
	connect := time.Now()
	client := peers.RunFreeRDP(ctx, p.Redacting(t), display,
		"/v:"+p.Addr, "/u:"+p.User, "/p:"+p.Password, "/cert:ignore", "/size:1024x768", "/log-level:DEBUG")

	if !p.WaitLog(t, "login successful for user "+p.User, 30*time.Second) {
		t.Fatalf("xrdp did not log a successful login for %s", p.User)
	}
	t.Logf("login after %v", time.Since(connect).Round(time.Millisecond))
	if d := p.SessionDisplays(); len(d) != 1 {
		t.Errorf("SessionDisplays() = %v, want one display", d)
	}
	if !poll(10*time.Second, func() bool { return strings.Contains(client.Output(), "CONNECTION_STATE_ACTIVE") }) {
		t.Fatalf("xfreerdp output lacks CONNECTION_STATE_ACTIVE")
	}

	if ok, last := WaitDesktop(ctx, t, display, 20*time.Second); !ok {
		t.Fatalf("pixel %v of the client's screen is %s, want %s", DesktopPoint, last, DesktopColor)
	}
	t.Logf("desktop colour after %v", time.Since(connect).Round(time.Millisecond))

	if !p.WaitFile(t, "ready", SessionBanner+" user="+p.User, 20*time.Second) {
		t.Fatalf("the session's shell did not start")
	}
	ready, _ := p.ReadFile("ready")
	t.Logf("shell ready after %v: %s", time.Since(connect).Round(time.Millisecond), strings.TrimSpace(ready))
	if m := regexp.MustCompile(`window=(\d+) focus=(\d+)`).FindStringSubmatch(ready); m == nil || m[1] != m[2] {
		t.Errorf("the xterm did not get the keyboard focus: %q", ready)
	}

	// The pointer crossing the xterm and the desktop, and clicks on both, must leave the focus
	// with the xterm (as they would not under a pointer-driven window manager such as twm).
	for _, args := range [][]string{
		{"mousemove", "100", "80"}, {"click", "1"}, {"mousemove", "800", "600"}, {"click", "1"},
	} {
		cmd := exec.CommandContext(ctx, "xdotool", args...)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v: %s", args, err, out)
		}
	}

	TypeLine(ctx, t, display, "echo typed-ok > typed.txt")
	if !p.WaitFile(t, "typed.txt", "typed-ok", 10*time.Second) {
		typed, err := p.ReadFile("typed.txt")
		t.Fatalf("typed.txt = %q (%v), want typed-ok", typed, err)
	}
	t.Logf("typed line ran after %v", time.Since(connect).Round(time.Millisecond))

	if strings.Contains(client.Output(), p.Password) || strings.Contains(p.rawLogs(), p.Password) {
		t.Errorf("the password appears in the client's output or the peer's logs")
	}

	client.Stop()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := newStrays(before, strays(t)); len(left) > 0 {
		t.Fatalf("processes left after Stop: %s", strings.Join(left, "; "))
	}
	t.Logf("stopped; whole test %v", time.Since(began).Round(time.Millisecond))
}

// strays lists, with pgrep, the processes a peer may leave behind: xrdp, xrdp-sesman,
// xrdp-chansrv, Xorg and anything run by DefaultUser. Zombies are left out (they have ended).
func strays(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, args := range [][]string{
		{"-x", "xrdp"}, {"-x", "xrdp-sesman"}, {"-x", "xrdp-chansrv"}, {"-x", "Xorg"}, {"-u", DefaultUser},
	} {
		cmd := exec.Command("pgrep", append([]string{"--runstates", "DRST", "-a"}, args...)...)
		b, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			continue // none
		} else if err != nil && args[0] == "-u" {
			continue // no such user yet
		} else if err != nil {
			t.Fatalf("pgrep %v: %v", args, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			out = append(out, strings.Join(args, " ")+": "+l)
		}
	}
	return out
}

func newStrays(before, after []string) []string {
	var out []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			out = append(out, s)
		}
	}
	return out
}
