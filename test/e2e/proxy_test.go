package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/standalone"
	"github.com/sessionconnector/sessionconnector/test/nlapeer"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/xrdppeer"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// world is the product in standalone mode with the Secret Server emulator, for end-to-end tests.
type world struct {
	t       *testing.T
	logs    *logbuf.Buffer
	ss      *emulator.Server
	srv     *standalone.Server
	secrets []string // every password in play, searched for in the logs
}

type targetSpec struct {
	id                           int
	machine, user, password, dom string
	pin                          string // SHA-256 of the target certificate, or "" for insecure
}

// startWorld starts the emulator with one secret per target (alice and the connector may view
// them all) and standalone mode with a cluster per target TLS setting and one launcher.
func startWorld(t *testing.T, targets ...targetSpec) *world {
	return startRecordedWorld(t, nil, targets...)
}

// startRecordedWorld is startWorld with the clusters recording to s3 (when not nil).
func startRecordedWorld(t *testing.T, s3 *s3peer.Peer, targets ...targetSpec) *world {
	t.Helper()
	w := &world{t: t, logs: &logbuf.Buffer{}, secrets: []string{"E2e-Alice-Pass", "E2e-Connector-Pass"}}
	log := w.logs.Logger()
	seed := "users:\n  - {username: alice, password: E2e-Alice-Pass}\n  - {username: connector, password: E2e-Connector-Pass, applicationAccount: true}\nsecrets:\n"
	for _, tg := range targets {
		fields := fmt.Sprintf("machine: %q, username: %q, password: %q", tg.machine, tg.user, tg.password)
		template := "Windows Account"
		if tg.dom != "" {
			fields += fmt.Sprintf(", domain: %q", tg.dom)
		}
		seed += fmt.Sprintf("  - {id: %d, name: target %d, template: %s, fields: {%s}, viewers: [alice, connector]}\n", tg.id, tg.id, template, fields)
		w.secrets = append(w.secrets, tg.password)
	}
	w.ss = emulatortest.Start(t, seed, emulator.Options{Logger: log.WithName("emulator")})

	// One cluster per target so each can carry its own certificate pin.
	config := t.TempDir()
	var manifests strings.Builder
	manifests.WriteString("apiVersion: v1\nkind: Secret\nmetadata: {name: app}\nstringData: {username: connector, password: E2e-Connector-Pass}\n")
	recording := ""
	if s3 != nil {
		fmt.Fprintf(&manifests, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s3}\nstringData: {accessKeyId: %q, secretAccessKey: %q}\n", s3.AccessKey, s3.SecretKey)
		recording = fmt.Sprintf("  recordingStorage: {endpoint: %q, bucket: %q, prefix: recordings, credentialsSecretRef: {name: s3}, playerURL: \"https://connector.example.com/\"}\n", "http://"+s3.Endpoint, s3.Bucket)
		w.secrets = append(w.secrets, s3.SecretKey)
	}
	for _, tg := range targets {
		targetTLS := "{insecureSkipVerify: true}"
		if tg.pin != "" {
			targetTLS = fmt.Sprintf("{pinnedSHA256: [%q]}", tg.pin)
		}
		fmt.Fprintf(&manifests, `---
apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: c%d}
spec:
%s  targetTLS: %s
  secretServer:
    url: %s
    applicationAccountSecretRef: {name: app}
    caBundle: |
%s
---
apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: rdp%d}
spec: {clusterRef: c%d, templates: [{name: Windows Account}], recordKeystrokes: %t}
`, tg.id, recording, targetTLS, w.ss.URL, indent(string(w.ss.CAPEM), "      "), tg.id, tg.id, s3 != nil)
	}
	writeFile(t, filepath.Join(config, "all.yaml"), manifests.String())
	var err error
	w.srv, err = standalone.Start(standalone.Options{ConfigDir: config, StateDir: t.TempDir(),
		APIListen: "127.0.0.1:0", RDPListen: "127.0.0.1:0", ShutdownGrace: time.Second, Logger: log.WithName("standalone")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.srv.Close()
		w.checkLogs()
	})
	return w
}

// launch asks for a .rdp file for secret id and writes it to a file.
func (w *world) launch(id int) (path string, tk ticket.Ticket) {
	w.t.Helper()
	rdp := launchAs(w.t, w.srv, "alice", "E2e-Alice-Pass", fmt.Sprintf(`{"secretId": %d, "launcher": "rdp%d"}`, id, id))
	path = filepath.Join(w.t.TempDir(), "launch.rdp")
	writeFile(w.t, path, string(rdp))
	for _, line := range strings.Split(string(rdp), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbalanceinfo:s:"); ok {
			parsed, err := ticket.Parse(v)
			if err != nil {
				w.t.Fatal(err)
			}
			tk = parsed
		}
	}
	return path, tk
}

// session waits for the Session of tk to reach phase and returns it.
func (w *world) session(tk ticket.Ticket, phase v1alpha1.SessionPhase, timeout time.Duration) *v1alpha1.Session {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *v1alpha1.Session
	for time.Now().Before(deadline) {
		s, err := w.srv.Store.Get(context.Background(), tk.ID)
		if err == nil && s.Status.Phase == phase {
			return s
		}
		last = s
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("session never reached %s; last status %+v\nlogs:\n%s", phase, last.Status, w.logs.String())
	return nil
}

func (w *world) waitLog(substr string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(w.logs.String(), substr) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("the log never said %q:\n%s", substr, w.logs.String())
}

// checkLogs fails when a password reached the logs.
func (w *world) checkLogs() {
	logs := w.logs.String()
	for _, s := range w.secrets {
		if s != "" && strings.Contains(logs, s) {
			w.t.Errorf("a password (%d characters) appears in the logs", len(s))
		}
	}
}

func waitOutput(p *peers.Process, substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Output(), substr) {
			return true
		}
		select {
		case <-p.Done():
			return strings.Contains(p.Output(), substr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

func requirePeers(t *testing.T) {
	if testing.Short() && !peers.Required() {
		t.Skip("end-to-end test with real RDP peers; skipped in -short mode")
	}
}

// TestProxyToXrdp: the real FreeRDP client opens a launched .rdp file, the proxy injects the
// vault's credentials, and xrdp logs the secret's user on; bad connections meanwhile do not
// disturb the session; the used ticket is refused afterwards.
func TestProxyToXrdp(t *testing.T) {
	requirePeers(t)
	peer := xrdppeer.Start(t)
	display := peers.StartXvfb(t)
	w := startWorld(t, targetSpec{id: 42, machine: peer.Addr, user: peer.User, password: peer.Password, pin: peer.CertSHA256()})
	path, tk := w.launch(42)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := peers.RunFreeRDP(ctx, peer.Redacting(t), display, path, "/cert:ignore", "/log-level:DEBUG", "/size:1024x768")
	if !peer.WaitLog(t, "login successful for user "+peer.User, 45*time.Second) {
		t.Fatalf("xrdp never logged the secret's user on:\n%s\nproxy:\n%s\nclient:\n%s", peer.Log(), w.logs.String(), client.Output())
	}
	if !waitOutput(client, "CONNECTION_STATE_ACTIVE", 30*time.Second) {
		t.Fatalf("the client never reached the active state:\n%s", client.Output())
	}
	if ok, last := xrdppeer.WaitDesktop(ctx, t, display, 30*time.Second); !ok {
		t.Fatalf("the target's desktop never showed in the client (last colour %s)", last)
	}
	s := w.session(tk, v1alpha1.SessionActive, 10*time.Second)
	if s.Status.StartedAt == nil || s.Status.ProxyName != "standalone" {
		t.Fatalf("active session status %+v", s.Status)
	}

	// Bad connections while the session runs: they end alone.
	garbage, err := net.Dial("tcp", w.srv.RDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = garbage.Write([]byte("\x16\x03\x01 this is not RDP at all \r\n\r\n"))
	stalled, err := net.Dial("tcp", w.srv.RDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_, _ = stalled.Write([]byte{3, 0, 0})
	rc4Only, err := net.Dial("tcp", w.srv.RDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	req := &x224.ConnectionRequest{Cookie: "mallory", Neg: &x224.NegotiationRequest{RequestedProtocols: x224.ProtocolRDP}}
	frame, _ := req.Marshal()
	_, _ = rc4Only.Write(frame)
	w.waitLog(`"reason"="malformed"`, 10*time.Second)
	w.waitLog(`"reason"="standard_rdp_security"`, 10*time.Second)
	garbage.Close()
	rc4Only.Close()
	// The session is still alive and still draws: type into it and see the command run.
	if !peer.WaitFile(t, "ready", xrdppeer.SessionBanner, 20*time.Second) {
		t.Fatalf("the target's shell never became ready:\n%s", peer.Log())
	}
	xrdppeer.TypeLine(ctx, t, display, "echo through-the-proxy > typed.txt")
	if !peer.WaitFile(t, "typed.txt", "through-the-proxy", 20*time.Second) {
		t.Fatal("keystrokes did not reach the target through the proxy")
	}
	select {
	case <-client.Done():
		t.Fatalf("the client was disconnected (exit %d):\n%s", client.ExitCode(), client.Output())
	default:
	}

	client.Stop()
	s = w.session(tk, v1alpha1.SessionEnded, 20*time.Second)
	if s.Status.EndedAt == nil {
		t.Fatalf("ended session status %+v", s.Status)
	}
	// The used ticket is refused, the target is not reached again, and the Session says so.
	again := peers.RunFreeRDP(ctx, peer.Redacting(t), display, path, "/cert:ignore")
	w.waitLog("the ticket was already used", 20*time.Second)
	again.Stop()
	if s, _ := w.srv.Store.Get(context.Background(), tk.ID); s.Status.RejectedAttempts == 0 || s.Status.LastRejection == nil ||
		s.Status.LastRejection.Reason != v1alpha1.ReasonTicketReused || s.Status.Phase != v1alpha1.SessionEnded {
		t.Fatalf("reused ticket not recorded: %+v", s.Status)
	}
}

// TestProxyToNLATarget proves the CredSSP path against the FreeRDP shadow server, and that a
// wrong password in the vault and an unreachable target end with clear reasons.
func TestProxyToNLATarget(t *testing.T) {
	requirePeers(t)
	peer := nlapeer.Start(t)
	display := peers.StartXvfb(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := closed.Addr().String()
	closed.Close()
	w := startWorld(t,
		targetSpec{id: 50, machine: peer.Addr, user: peer.User, password: peer.Password, dom: peer.Domain},
		targetSpec{id: 51, machine: peer.Addr, user: peer.User, password: "Not-The-Password-1", dom: peer.Domain},
		targetSpec{id: 52, machine: unreachable, user: "x", password: "Unreachable-Pass-1"},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	path, tk := w.launch(50)
	client := peers.RunFreeRDP(ctx, t, display, path, "/cert:ignore", "/log-level:DEBUG")
	if !waitOutput(client, "CONNECTION_STATE_ACTIVE", 45*time.Second) {
		t.Fatalf("the client never reached the active state:\n%s\nproxy:\n%s\nshadow:\n%s", client.Output(), w.logs.String(), peer.Output())
	}
	w.session(tk, v1alpha1.SessionActive, 15*time.Second)
	w.waitLog("WARNING: the target's certificate is not verified", time.Second)
	client.Stop()
	w.session(tk, v1alpha1.SessionEnded, 20*time.Second)

	path, tk = w.launch(51)
	client = peers.RunFreeRDP(ctx, t, display, path, "/cert:ignore")
	s := w.session(tk, v1alpha1.SessionRejected, 30*time.Second)
	client.Stop()
	if s.Status.Reason != "TargetAuthenticationFailed" || !strings.Contains(s.Status.Message, "refused the secret's credentials") {
		t.Fatalf("wrong vault password: %+v", s.Status)
	}
	w.waitLog("refused the secret's credentials", time.Second)

	path, tk = w.launch(52)
	client = peers.RunFreeRDP(ctx, t, display, path, "/cert:ignore")
	s = w.session(tk, v1alpha1.SessionRejected, 30*time.Second)
	client.Stop()
	if s.Status.Reason != "TargetUnreachable" || !strings.Contains(s.Status.Message, unreachable) {
		t.Fatalf("unreachable target: %+v", s.Status)
	}
}
