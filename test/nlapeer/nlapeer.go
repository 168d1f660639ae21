// Package nlapeer starts a real RDP server that requires Network Level Authentication — the
// FreeRDP shadow server with /sec:nla and a SAM file — on a loopback port, so that tests of the
// CredSSP client and of the proxy's end-to-end paths authenticate against a real CredSSP/NTLMv2
// implementation rather than a fake.
//
// A missing program skips the test with a message naming the Debian package, unless the
// environment variable SC_REQUIRE_PEERS is "1", in which case the test fails. Install them with:
//
//	apt-get install -y --no-install-recommends freerdp2-shadow-x11 winpr-utils xvfb
//
// The server and its Xvfb display are stopped by the test's cleanup. On a wrong password the
// server logs "Message Integrity Check (MIC) verification failed" and "client authentication
// failure" and closes the connection without a CredSSP error code.
package nlapeer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/test/peers"
)

// The account in the SAM file of every Peer (a throw-away test account).
const (
	DefaultUser     = "shadowuser"
	DefaultPassword = "Shadow-Pass1"
)

const startTimeout = 20 * time.Second

// Peer is a running FreeRDP shadow server with NLA.
type Peer struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// User, Password and Domain are the account the server accepts (Domain is empty: the SAM
	// entry has none).
	User, Password, Domain string

	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
}

// debianPackage names the package of each program this helper runs.
func debianPackage(program string) string {
	switch program {
	case "freerdp-shadow-cli":
		return "freerdp2-shadow-x11"
	case "winpr-hash":
		return "winpr-utils"
	case "Xvfb":
		return "xvfb"
	}
	return program
}

// lookPath finds program or skips the test (fails it when peers are required).
func lookPath(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v); install it with: apt-get install -y --no-install-recommends %s",
		program, err, debianPackage(program))
	if peers.Required() {
		t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
	}
	t.Skip(msg)
	return ""
}

// Start starts Xvfb and a FreeRDP shadow server with NLA on a free loopback port, and returns
// once the server accepts TCP connections. The test's cleanup stops both and, when the test
// failed, logs the server's output.
func Start(t testing.TB) *Peer {
	t.Helper()
	shadow := lookPath(t, "freerdp-shadow-cli")
	hash := lookPath(t, "winpr-hash")
	lookPath(t, "Xvfb")
	display := peers.StartXvfb(t)

	dir := t.TempDir()
	sam := filepath.Join(dir, "sam")
	entry, err := exec.Command(hash, "-u", DefaultUser, "-p", DefaultPassword, "-f", "sam").Output()
	if err != nil {
		t.Fatalf("winpr-hash: %v", err)
	}
	if err := os.WriteFile(sam, entry, 0o600); err != nil {
		t.Fatal(err)
	}

	var failures []string
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		p := &Peer{
			Addr:     net.JoinHostPort("127.0.0.1", fmt.Sprint(port)),
			User:     DefaultUser,
			Password: DefaultPassword,
			out:      &logbuf.Buffer{},
			done:     make(chan struct{}),
		}
		p.cmd = exec.Command(shadow, "/bind-address:127.0.0.1", fmt.Sprintf("/port:%d", port), "/sec:nla", "/sam-file:"+sam)
		p.cmd.Dir = dir
		p.cmd.Env = append(os.Environ(), "DISPLAY="+display, "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"))
		p.cmd.Stdout = p.out
		p.cmd.Stderr = p.out
		p.cmd.WaitDelay = 2 * time.Second
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start freerdp-shadow-cli: %v", err)
		}
		go func() {
			_ = p.cmd.Wait()
			close(p.done)
		}()
		if err := p.waitListening(); err != nil {
			p.stop()
			failures = append(failures, fmt.Sprintf("port %d: %v: %s", port, err, lastLine(p.Output())))
			continue
		}
		t.Cleanup(func() {
			p.stop()
			if t.Failed() {
				t.Logf("freerdp-shadow-cli on %s output:\n%s", p.Addr, p.Output())
			}
		})
		return p
	}
	t.Fatalf("freerdp-shadow-cli did not start: %s", strings.Join(failures, "; "))
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls the port until it accepts a connection, the process exits or the start
// timeout passes.
func (p *Peer) waitListening() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited")
		default:
		}
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening after %s", startTimeout)
}

func (p *Peer) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// String describes the peer without its password.
func (p *Peer) String() string {
	return fmt.Sprintf("nlapeer.Peer{Addr: %s, User: %q, Domain: %q}", p.Addr, p.User, p.Domain)
}

// Output returns what the server logged so far.
func (p *Peer) Output() string { return p.out.String() }

// WaitOutput waits until the server's log contains substr or timeout passes, and reports
// whether it does.
func (p *Peer) WaitOutput(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.Output(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DialHybrid connects to the server, negotiates PROTOCOL_HYBRID with an X.224 Connection
// Request, checks that the Confirm selects it, and completes the TLS handshake (the server's
// self-signed certificate is not verified). The caller runs CredSSP on the returned
// connection and closes it.
func (p *Peer) DialHybrid(ctx context.Context) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.Addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		_ = raw.SetDeadline(dl)
	}
	cr := &x224.ConnectionRequest{
		Cookie: p.User,
		Neg:    &x224.NegotiationRequest{RequestedProtocols: x224.ProtocolSSL | x224.ProtocolHybrid},
	}
	frame, err := cr.Marshal()
	if err != nil {
		return nil, fmt.Errorf("connection request: %w", err)
	}
	if _, err := raw.Write(frame); err != nil {
		return nil, fmt.Errorf("send connection request: %w", err)
	}
	reply, err := tpkt.ReadFrame(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("read connection confirm: %w", err)
	}
	cc, err := x224.ParseConnectionConfirm(reply)
	if err != nil {
		return nil, fmt.Errorf("connection confirm: %w", err)
	}
	switch {
	case cc.Failure != nil:
		return nil, fmt.Errorf("negotiation failure code %d", cc.Failure.Code)
	case cc.Response == nil:
		return nil, errors.New("connection confirm without a negotiation response")
	case cc.Response.SelectedProtocol != x224.ProtocolHybrid:
		return nil, fmt.Errorf("server selected protocol 0x%x, want HYBRID (0x2)", cc.Response.SelectedProtocol)
	}
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test peer's self-signed certificate
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	_ = raw.SetDeadline(time.Time{})
	ok = true
	return conn, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
