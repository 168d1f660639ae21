package officebench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/standalone"
	"github.com/sessionconnector/sessionconnector/test/logbuf"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/tcpfwd"
	"github.com/sessionconnector/sessionconnector/test/xrdppeer"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// The product in standalone mode, as test/e2e runs it: the Secret Server emulator holds the
// xrdp peer's account (secret 42), and two clusters pin the peer's certificate, one recording
// to MinIO and one not, each with its launcher.
const (
	secretID          = 42
	recordedLauncher  = "recorded"
	plainLauncher     = "plain"
	recordingPrefix   = "recordings"
	userName          = "alice"
	userPassword      = "Office-Alice-Pass"
	connectorPassword = "Office-Connector-Pass"
)

type world struct {
	srv  *standalone.Server
	logs *logbuf.Buffer
	api  *http.Client
}

// startWorld starts the emulator and standalone mode. rdpAddress is what .rdp files point at
// (the client leg's counter).
func startWorld(b *testing.B, s3 *s3peer.Peer, peer *xrdppeer.Peer, rdpAddress string) *world {
	b.Helper()
	w := &world{logs: &logbuf.Buffer{}}
	log := w.logs.Logger()
	seed := fmt.Sprintf(`users:
  - {username: %s, password: %s}
  - {username: connector, password: %s, applicationAccount: true}
secrets:
  - {id: %d, name: xrdp, template: Windows Account, fields: {machine: %q, username: %q, password: %q}, viewers: [%s, connector]}
`, userName, userPassword, connectorPassword, secretID, peer.Addr, peer.User, peer.Password, userName)
	ss := emulatortest.Start(b, seed, emulator.Options{Logger: log.WithName("emulator")})

	var m strings.Builder
	fmt.Fprintf(&m, `apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {username: connector, password: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: s3}
stringData: {accessKeyId: %q, secretAccessKey: %q}
`, connectorPassword, s3.AccessKey, s3.SecretKey)
	for _, c := range []struct{ name, recording string }{
		{recordedLauncher, fmt.Sprintf("  recordingStorage: {endpoint: %q, bucket: %q, prefix: %s, credentialsSecretRef: {name: s3}}\n",
			"http://"+s3.Endpoint, s3.Bucket, recordingPrefix)},
		{plainLauncher, ""},
	} {
		fmt.Fprintf(&m, `---
apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: %[1]s}
spec:
%[2]s  targetTLS: {pinnedSHA256: [%[3]q]}
  secretServer:
    url: %[4]s
    applicationAccountSecretRef: {name: app}
    caBundle: |
%[5]s
---
apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: %[1]s}
spec: {clusterRef: %[1]s, templates: [{name: Windows Account}], recordingPolicy: %[6]s}
`, c.name, c.recording, peer.CertSHA256(), ss.URL, indent(string(ss.CAPEM), "      "), v1alpha1.RecordingRequired)
	}
	config := b.TempDir()
	if err := os.WriteFile(filepath.Join(config, "all.yaml"), []byte(m.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	var err error
	w.srv, err = standalone.Start(standalone.Options{ConfigDir: config, StateDir: b.TempDir(),
		APIListen: "127.0.0.1:0", RDPListen: "127.0.0.1:0", RDPAddress: rdpAddress,
		ShutdownGrace: time.Second, Logger: log.WithName("standalone")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.srv.Close() })
	ca, err := os.ReadFile(w.srv.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	w.api = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	b.Cleanup(w.api.CloseIdleConnections)
	return w
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// launch asks the launch API for a .rdp file of the launcher, writes it to a file and returns
// the file and the session's ticket.
func (w *world) launch(b *testing.B, launcher string) (string, ticket.Ticket) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.APIURL+"/api/v1/launches",
		strings.NewReader(fmt.Sprintf(`{"secretId": %d, "launcher": %q}`, secretID, launcher)))
	req.SetBasicAuth(userName, userPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.api.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	rdp, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("launch: %d %s", resp.StatusCode, rdp)
	}
	var tk ticket.Ticket
	for _, line := range strings.Split(string(rdp), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbalanceinfo:s:"); ok {
			if tk, err = ticket.Parse(v); err != nil {
				b.Fatal(err)
			}
		}
	}
	path := filepath.Join(b.TempDir(), launcher+".rdp")
	if err := os.WriteFile(path, rdp, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, tk
}

// session waits until the Session of tk reaches phase.
func (w *world) session(b *testing.B, tk ticket.Ticket, phase v1alpha1.SessionPhase, timeout time.Duration) *v1alpha1.Session {
	b.Helper()
	var last *v1alpha1.Session
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := w.srv.Store.Get(context.Background(), tk.ID)
		if err == nil && s.Status.Phase == phase {
			return s
		}
		last = s
	}
	b.Fatalf("session never reached %s; last status %+v\nlogs:\n%s", phase, last.Status, w.logs.String())
	return nil
}

// relayed returns the proxy's sessionconnector_proxy_relayed_bytes_total by direction
// (client_to_target, target_to_client): the PDUs relayed after the handshake, without TLS.
func (w *world) relayed(b *testing.B) map[string]float64 {
	b.Helper()
	resp, err := w.api.Get(w.srv.APIURL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), `sessionconnector_proxy_relayed_bytes_total{direction="`)
		if !ok || name != "" {
			continue
		}
		dir, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			out[dir] = v
		}
	}
	return out
}

// counter is a TCP forwarder that counts the bytes each way: the client leg as the network
// between the user and the proxy carries it (TLS records included).
type counter struct {
	addr     string
	upstream atomic.Value // string
	toTarget atomic.Int64 // client to proxy
	toClient atomic.Int64 // proxy to client
}

func startCounter(b *testing.B) *counter {
	b.Helper()
	c := &counter{}
	fwd := tcpfwd.Start(b, tcpfwd.Options{
		Upstream: func() string { up, _ := c.upstream.Load().(string); return up },
		Up:       func(n int) bool { c.toTarget.Add(int64(n)); return true },
		Down:     func(n int) bool { c.toClient.Add(int64(n)); return true },
	})
	c.addr = fwd.Addr
	return c
}
