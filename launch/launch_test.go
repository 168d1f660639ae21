package launch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/rdpfile"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// Every password of the seed; none may appear in logs, answers or stored sessions.
var seedPasswords = []string{"Alice-Pass-9", "Bob-Pass-9", "Connector-Pass-9", "Target-Pass-9", "Corp-Pass-9", "Other-Pass-9"}

const seedYAML = `
users:
  - {username: alice, password: Alice-Pass-9}
  - {username: bob, password: Bob-Pass-9}
  - {username: connector, password: Connector-Pass-9, applicationAccount: true}
secrets:
  - {id: 42, name: web01 admin, template: Windows Account,
     fields: {machine: "127.0.0.1:13389", username: rdptest, password: Target-Pass-9}, viewers: [alice, connector]}
  - {id: 43, name: corp admin, template: Active Directory Account,
     fields: {domain: CORP, username: admin, password: Corp-Pass-9}, viewers: [alice, connector]}
  - {id: 44, name: other, template: Unix Account (SSH),
     fields: {machine: "10.0.0.9", username: root, password: Other-Pass-9}, viewers: [alice, connector]}
`

// catalog is a fixed set of launchers and clusters.
type fixedCatalog struct {
	launchers map[string]*v1alpha1.SessionLauncher
	clusters  map[string]*v1alpha1.RDSCluster
}

func (c *fixedCatalog) Launcher(_ context.Context, name string) (*v1alpha1.SessionLauncher, error) {
	if l, ok := c.launchers[name]; ok {
		return l.DeepCopy(), nil
	}
	return nil, catalog.ErrNotFound
}

func (c *fixedCatalog) ApplicationAccount(context.Context, *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	return secretserver.Credentials{Username: "connector", Password: "Connector-Pass-9"}, nil
}

func (c *fixedCatalog) Cluster(_ context.Context, name string) (*v1alpha1.RDSCluster, error) {
	if cl, ok := c.clusters[name]; ok {
		return cl.DeepCopy(), nil
	}
	return nil, catalog.ErrNotFound
}

type env struct {
	t        *testing.T
	ss       *emulator.Server
	store    sessionstore.Store
	catalog  *fixedCatalog
	api      *httptest.Server
	clock    *storetest.Clock
	logs     *logbuf.Buffer
	registry *prometheus.Registry
	issued   []string // ticket texts handed out, checked against the logs
	mu       sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	logs := &logbuf.Buffer{}
	ss := emulatortest.Start(t, seedYAML, emulator.Options{Logger: logs.Logger().WithName("emulator")})
	clock := storetest.NewClock()
	store, err := embedded.Open(t.TempDir(), embedded.Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	active := true
	cat := &fixedCatalog{
		clusters: map[string]*v1alpha1.RDSCluster{
			"front": {Spec: v1alpha1.RDSClusterSpec{
				SecretServer:    v1alpha1.SecretServerSpec{URL: ss.URL, CABundle: string(ss.CAPEM)},
				ExternalAddress: "rdp.example.com", ExternalPort: 3389,
			}},
		},
		launchers: map[string]*v1alpha1.SessionLauncher{
			"rdp": {Spec: v1alpha1.SessionLauncherSpec{ClusterRef: "front", Active: &active,
				Templates:    []v1alpha1.TemplateReference{{Name: "windows account"}, {ID: 6001}},
				AllowedHosts: []string{"*.corp.example", "10.1.0.0/16"}}},
			"off": {Spec: v1alpha1.SessionLauncherSpec{ClusterRef: "front", Active: new(bool),
				Templates: []v1alpha1.TemplateReference{{Name: "Windows Account"}}}},
			"orphan": {Spec: v1alpha1.SessionLauncherSpec{ClusterRef: "missing",
				Templates: []v1alpha1.TemplateReference{{Name: "Windows Account"}}}},
		},
	}
	cat.clusters["front"].Name = "front"
	for name, l := range cat.launchers {
		l.Name = name
	}
	e := &env{t: t, ss: ss, store: store, catalog: cat, clock: clock, logs: logs, registry: prometheus.NewRegistry()}
	client, err := secretserver.NewClient(secretserver.Config{BaseURL: ss.URL, CABundle: ss.CAPEM, Logger: logs.Logger().WithName("client")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections) // runs before the emulator's Close, which then need not wait
	h, err := launch.New(launch.Config{
		Catalog: cat,
		Store:   store,
		SecretServer: func(_ context.Context, c *v1alpha1.RDSCluster) (*secretserver.Client, error) {
			return client, nil
		},
		Now:        clock.Now,
		Logger:     logs.Logger().WithName("launch"),
		Registerer: e.registry,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api = httptest.NewTLSServer(h)
	t.Cleanup(e.api.Close)
	t.Cleanup(e.checkLogs)
	return e
}

// checkLogs fails the test when a password or a ticket reached the logs.
func (e *env) checkLogs() {
	logs := e.logs.String()
	if !strings.Contains(logs, "launch") {
		e.t.Error("no launch log lines were captured")
	}
	for _, pw := range seedPasswords {
		if strings.Contains(logs, pw) {
			e.t.Errorf("password %q appears in the logs", pw)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tk := range e.issued {
		verifier := tk[strings.LastIndex(tk, ".")+1:]
		if strings.Contains(logs, verifier) {
			e.t.Errorf("a ticket appears in the logs")
		}
	}
}

type answer struct {
	status  int
	header  http.Header
	body    []byte
	problem map[string]any
}

func (e *env) post(body string, auth func(*http.Request)) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.api.URL+"/api/v1/launches", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	resp, err := e.api.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if resp.StatusCode == http.StatusCreated {
		if f, err := rdpfile.Parse(bytes.NewReader(data)); err == nil {
			e.mu.Lock()
			e.issued = append(e.issued, strings.TrimSpace(f.LoadBalanceInfo))
			e.mu.Unlock()
		}
	} else if err := json.Unmarshal(data, &a.problem); err != nil {
		e.t.Fatalf("error answer %d is not JSON: %q", resp.StatusCode, data)
	}
	return a
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func (e *env) sessions() []v1alpha1.Session {
	e.t.Helper()
	list, err := e.store.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func TestLaunchIssuesRDPFile(t *testing.T) {
	e := newEnv(t)
	a := e.post(`{"secretId": 42, "launcher": "rdp"}`, basic("alice", "Alice-Pass-9"))
	if a.status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != rdpfile.ContentType {
		t.Fatalf("content type %q", ct)
	}
	if cd := a.header.Get("Content-Disposition"); cd != `attachment; filename="web01_admin.rdp"` {
		t.Fatalf("content disposition %q", cd)
	}
	for _, pw := range seedPasswords {
		if bytes.Contains(a.body, []byte(pw)) {
			t.Fatalf("the .rdp file contains password %q", pw)
		}
	}
	if bytes.Contains(bytes.ToLower(a.body), []byte("password")) {
		t.Fatalf("the .rdp file has a password setting:\n%s", a.body)
	}
	f, err := rdpfile.Parse(bytes.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	if f.FullAddress != "rdp.example.com:3389" {
		t.Fatalf("full address %q", f.FullAddress)
	}
	if !f.DisableConnectionSharing {
		t.Fatal("connection sharing is on by default")
	}
	tk, err := ticket.Parse(f.LoadBalanceInfo)
	if err != nil {
		t.Fatalf("loadbalanceinfo is not a ticket: %v", err)
	}
	text := string(a.body)
	for _, want := range []string{"enablecredsspsupport:i:0", "prompt for credentials:i:0", "disableconnectionsharing:i:1"} {
		if !strings.Contains(text, want) {
			t.Errorf(".rdp file lacks %q", want)
		}
	}
	s, err := e.store.Get(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Matches(s.Spec.TicketHash) || s.Spec.User != "alice" || s.Spec.SecretID != 42 || s.Spec.Target != "127.0.0.1:13389" ||
		s.Spec.LauncherRef != "rdp" || s.Spec.ClusterRef != "front" || s.EffectivePhase() != v1alpha1.SessionIssued {
		t.Fatalf("stored session %+v", s.Spec)
	}
	if got, want := s.Spec.ExpiresAt.Time, e.clock.Now().Add(900*time.Second); !got.Equal(want) {
		t.Fatalf("expires at %v, want %v (900 s)", got, want)
	}
	if a.header.Get("X-Session-Id") != tk.ID {
		t.Fatal("X-Session-Id does not name the session")
	}
	// The ticket works once.
	if _, _, err := e.store.Claim(context.Background(), tk, sessionstore.ClaimRequest{ClientAddress: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Claim(context.Background(), tk, sessionstore.ClaimRequest{ClientAddress: "192.0.2.2"}); err == nil {
		t.Fatal("ticket accepted twice")
	}
	if got := launches(t, e.registry, "issued"); got != 1 {
		t.Fatalf("issued counter = %v", got)
	}
}

// launches reads sessionconnector_launches_total for one outcome.
func launches(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "sessionconnector_launches_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestLaunchWithBearerToken(t *testing.T) {
	e := newEnv(t)
	c, err := secretserver.NewClient(secretserver.Config{BaseURL: e.ss.URL, CABundle: e.ss.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	token, err := c.WithPassword(secretserver.Credentials{Username: "alice", Password: "Alice-Pass-9"}).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := e.post(`{"secretId": 42, "launcher": "rdp"}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) })
	if a.status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	f, _ := rdpfile.Parse(bytes.NewReader(a.body))
	tk, _ := ticket.Parse(f.LoadBalanceInfo)
	if s, err := e.store.Get(context.Background(), tk.ID); err != nil || s.Spec.User != "alice" {
		t.Fatalf("session of a bearer launch: user %q, %v", s.Spec.User, err)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Fatal("the bearer token appears in the logs")
	}
	a = e.post(`{"secretId": 42, "launcher": "rdp"}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-a-token") })
	if a.status != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d", a.status)
	}
}

func TestLaunchMachineForSecretsWithoutOne(t *testing.T) {
	e := newEnv(t)
	a := e.post(`{"secretId": 43, "launcher": "rdp", "machine": "DC01.corp.example"}`, basic("alice", "Alice-Pass-9"))
	if a.status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	f, _ := rdpfile.Parse(bytes.NewReader(a.body))
	tk, _ := ticket.Parse(f.LoadBalanceInfo)
	s, err := e.store.Get(context.Background(), tk.ID)
	if err != nil || s.Spec.Target != "dc01.corp.example:3389" {
		t.Fatalf("target %q, %v", s.Spec.Target, err)
	}
	a = e.post(`{"secretId": 43, "launcher": "rdp", "machine": "10.1.2.3:3390"}`, basic("alice", "Alice-Pass-9"))
	if a.status != http.StatusCreated {
		t.Fatalf("CIDR-allowed machine: status %d: %s", a.status, a.body)
	}
}

func TestLaunchSettingsFromCluster(t *testing.T) {
	for name, tc := range map[string]struct {
		timeout int32
		sharing bool
		want    time.Duration
	}{
		"default timeout":  {0, false, 900 * time.Second},
		"negative timeout": {-5, false, 900 * time.Second},
		"custom timeout":   {60, true, 60 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.catalog.clusters["front"].Spec.SessionTimeoutSeconds = tc.timeout
			e.catalog.clusters["front"].Spec.AllowConnectionSharing = tc.sharing
			a := e.post(`{"secretId": 42, "launcher": "rdp"}`, basic("alice", "Alice-Pass-9"))
			if a.status != http.StatusCreated {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			f, _ := rdpfile.Parse(bytes.NewReader(a.body))
			if f.DisableConnectionSharing == tc.sharing {
				t.Fatalf("disableconnectionsharing = %v with allowConnectionSharing %v", f.DisableConnectionSharing, tc.sharing)
			}
			tk, _ := ticket.Parse(f.LoadBalanceInfo)
			s, _ := e.store.Get(context.Background(), tk.ID)
			if got := s.Spec.ExpiresAt.Sub(e.clock.Now()); got != tc.want {
				t.Fatalf("valid for %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLaunchRefusals(t *testing.T) {
	alice := basic("alice", "Alice-Pass-9")
	cases := map[string]struct {
		body   string
		auth   func(*http.Request)
		setup  func(*env)
		status int
		detail string
	}{
		"no credentials":        {`{"secretId": 42, "launcher": "rdp"}`, nil, nil, 401, "username and password"},
		"wrong password":        {`{"secretId": 42, "launcher": "rdp"}`, basic("alice", "wrong"), nil, 401, "did not accept"},
		"unknown user":          {`{"secretId": 42, "launcher": "rdp"}`, basic("mallory", "x"), nil, 401, "did not accept"},
		"not a viewer":          {`{"secretId": 42, "launcher": "rdp"}`, basic("bob", "Bob-Pass-9"), nil, 403, "may not view"},
		"unknown secret":        {`{"secretId": 999, "launcher": "rdp"}`, alice, nil, 403, "may not view"},
		"unknown launcher":      {`{"secretId": 42, "launcher": "nope"}`, alice, nil, 404, "no active launcher"},
		"inactive launcher":     {`{"secretId": 42, "launcher": "off"}`, alice, nil, 404, "no active launcher"},
		"launcher lost cluster": {`{"secretId": 42, "launcher": "orphan"}`, alice, nil, 503, "not available"},
		"malformed JSON":        {`{"secretId": 42, `, alice, nil, 422, "JSON"},
		"not an object":         {`[1,2]`, alice, nil, 422, "JSON"},
		"wrong type":            {`{"secretId": "42", "launcher": "rdp"}`, alice, nil, 422, "secretId"},
		"unknown field":         {`{"secretId": 42, "launcher": "rdp", "password": "x"}`, alice, nil, 422, "unknown field"},
		"two values":            {`{"secretId": 42, "launcher": "rdp"} {}`, alice, nil, 422, "more than one"},
		"empty body":            {``, alice, nil, 422, "empty"},
		"no secret id":          {`{"launcher": "rdp"}`, alice, nil, 422, "secretId"},
		"no launcher":           {`{"secretId": 42}`, alice, nil, 422, "launcher"},
		"huge body":             {`{"secretId": 42, "launcher": "` + strings.Repeat("a", launch.MaxBodyBytes) + `"}`, alice, nil, 422, "larger than"},
		"machine missing":       {`{"secretId": 43, "launcher": "rdp"}`, alice, nil, 422, "has no machine"},
		"machine not allowed":   {`{"secretId": 43, "launcher": "rdp", "machine": "evil.example.org"}`, alice, nil, 422, "does not allow"},
		"machine invalid":       {`{"secretId": 43, "launcher": "rdp", "machine": "a b"}`, alice, nil, 422, "machine"},
		"machine overridden":    {`{"secretId": 42, "launcher": "rdp", "machine": "dc.corp.example"}`, alice, nil, 422, "names its own machine"},
		"template not assigned": {`{"secretId": 44, "launcher": "rdp"}`, alice, nil, 422, "not assigned"},
		"secret server down":    {`{"secretId": 42, "launcher": "rdp"}`, alice, func(e *env) { e.ss.Emulator.SetUnavailable(true) }, 503, "could not be reached"},
		"secret server gone":    {`{"secretId": 42, "launcher": "rdp"}`, alice, func(e *env) { _ = e.ss.Close() }, 503, "could not be reached"},
		"secret server HTML":    {`{"secretId": 42, "launcher": "rdp"}`, alice, func(e *env) { e.ss.Emulator.SetHTMLMode(true) }, 502, "does not understand"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			a := e.post(tc.body, tc.auth)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			detail, _ := a.problem["detail"].(string)
			if !strings.Contains(detail, tc.detail) {
				t.Fatalf("detail %q does not say %q", detail, tc.detail)
			}
			if a.problem["status"] != float64(tc.status) || a.problem["title"] == "" {
				t.Fatalf("problem %v", a.problem)
			}
			if tc.status == 401 && a.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if launches(t, e.registry, "issued") != 0 || launches(t, e.registry, outcomeOf(tc.status)) != 1 {
				t.Fatalf("metrics do not count the refusal as %s", outcomeOf(tc.status))
			}
			if n := len(e.sessions()); n != 0 {
				t.Fatalf("a refused launch stored %d sessions", n)
			}
		})
	}
}

func TestLaunchMethodAndMediaType(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.api.URL+"/api/v1/launches", nil)
	if a := e.do(req); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", a.status)
	}
	req, _ = http.NewRequest(http.MethodPost, e.api.URL+"/api/v1/launches", strings.NewReader(`secretId=42`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("alice", "Alice-Pass-9")
	if a := e.do(req); a.status != http.StatusUnsupportedMediaType {
		t.Fatalf("form body: %d", a.status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := e.api.Client().Get(e.api.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
}

func TestConcurrentLaunchesGetDistinctTickets(t *testing.T) {
	e := newEnv(t)
	const n = 20
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.api.URL+"/api/v1/launches", strings.NewReader(`{"secretId": 42, "launcher": "rdp"}`))
			req.SetBasicAuth("alice", "Alice-Pass-9")
			resp, err := e.api.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
				return
			}
			ids <- resp.Header.Get("X-Session-Id")
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("session %s issued twice", id)
		}
		seen[id] = true
	}
	if len(e.sessions()) != n {
		t.Fatalf("%d sessions stored, want %d", len(e.sessions()), n)
	}
}

func outcomeOf(status int) string {
	switch status {
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 422:
		return "invalid"
	case 503:
		return "unavailable"
	default:
		return "error"
	}
}
