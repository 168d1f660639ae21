package proxy

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/rdp/preconnection"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// staticCatalog serves one cluster and one launcher.
type staticCatalog struct {
	cluster  *v1alpha1.RDSCluster
	launcher *v1alpha1.SessionLauncher
	account  secretserver.Credentials
}

func (c *staticCatalog) Launcher(_ context.Context, name string) (*v1alpha1.SessionLauncher, error) {
	if c.launcher == nil || name != c.launcher.Name {
		return nil, catalog.ErrNotFound
	}
	return c.launcher.DeepCopy(), nil
}

func (c *staticCatalog) Cluster(_ context.Context, name string) (*v1alpha1.RDSCluster, error) {
	if c.cluster == nil || name != c.cluster.Name {
		return nil, catalog.ErrNotFound
	}
	return c.cluster.DeepCopy(), nil
}

func (c *staticCatalog) ApplicationAccount(context.Context, *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	return c.account, nil
}

type testProxy struct {
	addr     string
	server   *Server
	store    sessionstore.Store
	clock    *storetest.Clock
	logs     *logbuf.Buffer
	dials    *atomic.Int32
	registry *prometheus.Registry
}

type proxyOptions struct {
	handshakeTimeout time.Duration
	maxHandshakes    int
	catalog          catalog.Catalog
}

func startProxy(t *testing.T, o proxyOptions) *testProxy {
	t.Helper()
	dir := t.TempDir()
	files, err := pki.EnsureServerFiles(filepath.Join(dir, "tls"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	store, err := embedded.Open(filepath.Join(dir, "state"), embedded.Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	logs := &logbuf.Buffer{}
	dials := &atomic.Int32{}
	cat := o.catalog
	if cat == nil {
		cat = &staticCatalog{}
	}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{
		Name: "test-proxy", Store: store, Catalog: cat, SecretServers: &secretserver.Clients{},
		CertFile: files.Cert, KeyFile: files.Key,
		HandshakeTimeout: o.handshakeTimeout, MaxHandshakes: o.maxHandshakes,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		Now:        clock.Now,
		Logger:     logs.Logger(),
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		n := len(srv.listeners)
		srv.mu.Unlock()
		if n == 1 {
			break
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &testProxy{addr: ln.Addr().String(), server: srv, store: store, clock: clock, logs: logs, dials: dials, registry: reg}
}

// issue stores a Session for a new ticket.
func (p *testProxy) issue(t *testing.T, ttl time.Duration) ticket.Ticket {
	t.Helper()
	tk, err := ticket.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.Create(context.Background(), storetest.NewSession(tk, p.clock.Now(), ttl)); err != nil {
		t.Fatal(err)
	}
	return tk
}

func connectionRequest(t *testing.T, token string, protocols uint32) []byte {
	t.Helper()
	req := &x224.ConnectionRequest{Neg: &x224.NegotiationRequest{RequestedProtocols: protocols}}
	if token != "" {
		req.RoutingToken = []byte(token)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange sends data and returns what the proxy answered before closing.
func (p *testProxy) exchange(t *testing.T, data []byte) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(conn)
	return answer
}

func (p *testProxy) waitLog(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.logs.String(), substr) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log never said %q:\n%s", substr, p.logs.String())
}

func (p *testProxy) handshakes(reason string) float64 {
	families, _ := p.registry.Gather()
	for _, f := range families {
		if f.GetName() != "sessionconnector_proxy_handshakes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestBadTicketsAreRefusedWithoutDiallingTheTarget(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	used := p.issue(t, time.Hour)
	if _, _, err := p.store.Claim(context.Background(), used, sessionstore.ClaimRequest{ClientAddress: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	expired := p.issue(t, time.Minute)
	p.clock.Advance(2 * time.Minute)
	unknown, _ := ticket.New()
	pcb, err := (&preconnection.PDU{Version: preconnection.Version2, PCB: unknown.Text()}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged := storetest.Forge(t, p.issue(t, time.Hour))
	cases := map[string]struct {
		data   []byte
		reason string
		log    string
	}{
		"garbage":                     {[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "malformed", "not an RDP connection"},
		"empty tpkt":                  {[]byte{3, 0, 0, 4}, "malformed", "malformed X.224"},
		"no token":                    {connectionRequest(t, "", x224.ProtocolSSL), "no_ticket", "no routing token"},
		"not a ticket":                {connectionRequest(t, "tsv://MS Terminal Services Plugin.1.x", x224.ProtocolSSL), "bad_ticket", "not a ticket"},
		"unknown ticket":              {connectionRequest(t, unknown.Text(), x224.ProtocolSSL), "ticket_unknown", "no session has this ticket"},
		"reused ticket":               {connectionRequest(t, used.Text(), x224.ProtocolSSL), "ticket_reused", "already used"},
		"forged ticket":               {connectionRequest(t, forged.Text(), x224.ProtocolSSL), "ticket_forged", "secret part is wrong"},
		"expired ticket":              {connectionRequest(t, expired.Text(), x224.ProtocolSSL), "ticket_expired", "has expired"},
		"ticket in preconnection PDU": {append(pcb, connectionRequest(t, "", x224.ProtocolSSL)...), "ticket_unknown", "no session has this ticket"},
		"bad preconnection PDU":       {[]byte{16, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}, "malformed", "bad Preconnection PDU"},
		"standard rdp only":           {connectionRequest(t, unknown.Text(), x224.ProtocolRDP), "standard_rdp_security", "only standard RDP security"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := p.handshakes(tc.reason)
			answer := p.exchange(t, tc.data)
			deadline := time.Now().Add(5 * time.Second)
			for p.handshakes(tc.reason) < before+1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := p.handshakes(tc.reason); got != before+1 {
				t.Fatalf("metric reason=%s = %v, want %v", tc.reason, got, before+1)
			}
			p.waitLog(t, tc.log)
			if tc.reason == "standard_rdp_security" {
				cc, err := x224.ParseConnectionConfirm(answer)
				if err != nil || cc.Failure == nil || cc.Failure.Code != x224.FailureSSLRequiredByServer {
					t.Fatalf("answer % x: %+v %v, want RDP_NEG_FAILURE SSL_REQUIRED_BY_SERVER", answer, cc, err)
				}
			}
		})
	}
	if n := p.dials.Load(); n != 0 {
		t.Fatalf("the target was dialled %d times for bad tickets", n)
	}
	if s, err := p.store.Get(context.Background(), expired.ID); err != nil || s.Status.Phase != v1alpha1.SessionExpired {
		t.Fatalf("expired session: %+v %v", s.Status, err)
	}
	for _, tk := range []ticket.Ticket{used, unknown, forged, expired} {
		if strings.Contains(p.logs.String(), tk.Text()) {
			t.Fatal("a ticket appears in the logs")
		}
	}
}

func TestSlowClientTimesOutAlone(t *testing.T) {
	p := startProxy(t, proxyOptions{handshakeTimeout: 500 * time.Millisecond})
	slow, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = slow.Write([]byte{3, 0}) // half a TPKT header, then nothing
	// Another client is served meanwhile.
	unknown, _ := ticket.New()
	p.exchange(t, connectionRequest(t, unknown.Text(), x224.ProtocolSSL))
	p.waitLog(t, "no session has this ticket")
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := slow.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the slow client was not disconnected: %v", err)
	}
	p.waitLog(t, `"reason"="timeout"`)
}

func TestHandshakeCap(t *testing.T) {
	p := startProxy(t, proxyOptions{maxHandshakes: 2, handshakeTimeout: 3 * time.Second})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(p.server.handshakes) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	third := p.exchange(t, []byte{3})
	if len(third) != 0 {
		t.Fatalf("the third connection got an answer: % x", third)
	}
	p.waitLog(t, `"reason"="busy"`)
	if p.handshakes("busy") != 1 {
		t.Fatal("busy not counted")
	}
	_ = held
}

func TestShutdownStopsAccepting(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}
