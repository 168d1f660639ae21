package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/standalone"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/ticket"
)

const launchSeed = `
users:
  - {username: alice, password: E2e-Alice-Pass}
  - {username: connector, password: E2e-Connector-Pass, applicationAccount: true}
secrets:
  - {id: 42, name: web01 admin, template: Windows Account,
     fields: {machine: "127.0.0.1:13389", username: rdptest, password: E2e-Target-Pass}, viewers: [alice, connector]}
`

// TestLaunchedRDPFileCarriesTicketToProxy asks the launch API (standalone mode, Secret Server
// emulator) for a .rdp file, opens it with the real FreeRDP client, and checks that the routing
// token the client sends is the ticket of the launched Session, which can then be claimed once.
func TestLaunchedRDPFileCarriesTicketToProxy(t *testing.T) {
	if testing.Short() && !peers.Required() {
		t.Skip("end-to-end test with xfreerdp; skipped in -short mode")
	}
	display := peers.StartXvfb(t)
	logs := &logbuf.Buffer{}
	log := logs.Logger()

	ss := emulatortest.Start(t, launchSeed, emulator.Options{Logger: log.WithName("emulator")})

	config := t.TempDir()
	writeFile(t, filepath.Join(config, "cluster.yaml"), `apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: e2e}
spec:
  secretServer:
    url: `+ss.URL+`
    caBundle: |
`+indent(string(ss.CAPEM), "      ")+`
    applicationAccountSecretRef: {name: app}
---
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {username: connector, password: E2e-Connector-Pass}
---
apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: rdp}
spec: {clusterRef: e2e, templates: [{name: Windows Account}]}
`)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	srv, err := standalone.Start(standalone.Options{ConfigDir: config, StateDir: t.TempDir(), APIListen: "127.0.0.1:0",
		RDPAddress: front.Addr().String(), Logger: log.WithName("standalone")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	rdp := launchAs(t, srv, "alice", "E2e-Alice-Pass", `{"secretId": 42, "launcher": "rdp"}`)
	path := filepath.Join(t.TempDir(), "web01.rdp")
	writeFile(t, path, string(rdp))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := peers.RunFreeRDP(ctx, t, display, path, "/cert:ignore")
	conn := acceptOrFail(ctx, t, front, client)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame, err := tpkt.ReadFrame(conn, 1024)
	if err != nil {
		t.Fatalf("read Connection Request: %v", err)
	}
	req, err := x224.ParseConnectionRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	client.Stop()
	tk, err := ticket.Parse(string(req.RoutingToken))
	if err != nil {
		t.Fatalf("routing token is not a ticket: %v", err)
	}
	sess, _, err := srv.Store.Claim(context.Background(), tk, sessionstore.ClaimRequest{ClientAddress: "127.0.0.1", Proxy: "e2e"})
	if err != nil {
		t.Fatalf("claim of the ticket the client sent: %v", err)
	}
	if sess.Spec.User != "alice" || sess.Spec.SecretID != 42 || sess.Spec.Target != "127.0.0.1:13389" {
		t.Fatalf("claimed session %+v", sess.Spec)
	}
	if _, _, err := srv.Store.Claim(context.Background(), tk, sessionstore.ClaimRequest{ClientAddress: "192.0.2.7"}); !errors.Is(err, sessionstore.ErrAlreadyUsed) {
		t.Fatalf("second claim: %v", err)
	}
	for _, secret := range []string{"E2e-Alice-Pass", "E2e-Connector-Pass", "E2e-Target-Pass", tk.Text()} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs contain a password or the ticket")
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// launchAs posts a launch request to standalone mode and returns the .rdp file.
func launchAs(t *testing.T, srv *standalone.Server, user, password, body string) []byte {
	t.Helper()
	return launchAsURL(t, srv.APIURL, srv.CAFile, user, password, body)
}

// launchAsURL posts a launch request to the launch API at apiURL, trusting caFile.
func launchAsURL(t *testing.T, apiURL, caFile, user, password, body string) []byte {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, apiURL+"/api/v1/launches", strings.NewReader(body))
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("launch: %d %s", resp.StatusCode, data)
	}
	return data
}

// acceptOrFail waits for the client's connection.
func acceptOrFail(ctx context.Context, t *testing.T, ln net.Listener, client *peers.Process) net.Conn {
	t.Helper()
	type accepted struct {
		conn net.Conn
		err  error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()
	select {
	case a := <-acc:
		if a.err != nil {
			t.Fatalf("accept: %v", a.err)
		}
		return a.conn
	case <-client.Done():
		t.Fatalf("xfreerdp exited with %d before connecting", client.ExitCode())
	case <-ctx.Done():
		t.Fatal("xfreerdp did not connect within 20 s")
	}
	return nil
}
