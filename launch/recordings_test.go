package launch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/launch"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/test/logbuf"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/ticket"
)

const recSeedYAML = `
users:
  - {username: alice, password: Rec-Alice-Pass-3}
  - {username: bob, password: Rec-Bob-Pass-3}
  - {username: connector, password: Rec-Connector-Pass-3, applicationAccount: true}
secrets:
  - {id: 42, name: web01 admin, template: Windows Account,
     fields: {machine: "127.0.0.1:13389", username: rdptest, password: Rec-Target-Pass-3}, viewers: [alice, connector]}
`

var recPasswords = []string{"Rec-Alice-Pass-3", "Rec-Bob-Pass-3", "Rec-Connector-Pass-3", "Rec-Target-Pass-3"}

// recCatalog has the clusters of the recording tests and reads their S3 credentials.
type recCatalog struct {
	clusters         map[string]*v1alpha1.RDSCluster
	access, secret   string
	credentialsError error
}

func (c *recCatalog) Launcher(context.Context, string) (*v1alpha1.SessionLauncher, error) {
	return nil, catalog.ErrNotFound
}

func (c *recCatalog) Cluster(_ context.Context, name string) (*v1alpha1.RDSCluster, error) {
	if cl, ok := c.clusters[name]; ok {
		return cl.DeepCopy(), nil
	}
	return nil, catalog.ErrNotFound
}

func (c *recCatalog) ClusterNames(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(c.clusters)), nil
}

func (c *recCatalog) ApplicationAccount(context.Context, *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	return secretserver.Credentials{Username: "connector", Password: "Rec-Connector-Pass-3"}, nil
}

func (c *recCatalog) RecordingCredentials(context.Context, *v1alpha1.RDSCluster) (string, string, error) {
	return c.access, c.secret, c.credentialsError
}

type recEnv struct {
	t       *testing.T
	ss      *emulator.Server
	s3      *s3peer.Peer
	store   sessionstore.Store
	catalog *recCatalog
	clock   *storetest.Clock
	logs    *logbuf.Buffer
	reg     *prometheus.Registry
	api     *httptest.Server
}

// newRecEnv starts the emulator, MinIO and a launch API whose cluster "front" records to MinIO
// (cluster "plain" does not record).
func newRecEnv(t *testing.T, lifetime time.Duration) *recEnv {
	t.Helper()
	e := &recEnv{t: t, s3: s3peer.Start(t), logs: &logbuf.Buffer{}, clock: storetest.NewClock(), reg: prometheus.NewRegistry()}
	e.ss = emulatortest.Start(t, recSeedYAML, emulator.Options{Logger: e.logs.Logger().WithName("emulator")})
	store, err := embedded.Open(t.TempDir(), embedded.Options{Now: e.clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e.store = store
	ssSpec := v1alpha1.SecretServerSpec{URL: e.ss.URL, CABundle: string(e.ss.CAPEM)}
	e.catalog = &recCatalog{access: e.s3.AccessKey, secret: e.s3.SecretKey, clusters: map[string]*v1alpha1.RDSCluster{
		"front": {Spec: v1alpha1.RDSClusterSpec{SecretServer: ssSpec, RecordingStorage: &v1alpha1.RecordingStorageSpec{
			Endpoint: "http://" + e.s3.Endpoint, Bucket: e.s3.Bucket, Prefix: "rec", Region: "us-east-1",
			CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}}},
		"plain": {Spec: v1alpha1.RDSClusterSpec{SecretServer: ssSpec}},
	}}
	for name, c := range e.catalog.clusters {
		c.Name = name
	}
	client, err := secretserver.NewClient(secretserver.Config{BaseURL: e.ss.URL, CABundle: e.ss.CAPEM, Logger: e.logs.Logger().WithName("client")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	h, err := launch.New(launch.Config{
		Catalog: e.catalog, Store: store,
		SecretServer:         func(context.Context, *v1alpha1.RDSCluster) (*secretserver.Client, error) { return client, nil },
		Now:                  e.clock.Now,
		Logger:               e.logs.Logger().WithName("launch"),
		Registerer:           e.reg,
		RecordingURLLifetime: lifetime,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api = httptest.NewTLSServer(h)
	t.Cleanup(e.api.Close)
	t.Cleanup(e.checkLogs)
	return e
}

// checkLogs fails when a password, the S3 secret key or a presigned URL reached the logs.
func (e *recEnv) checkLogs() {
	logs := e.logs.String()
	for _, s := range append(recPasswords, e.s3.SecretKey, "X-Amz-Signature", "X-Amz-Credential") {
		if strings.Contains(logs, s) {
			e.t.Errorf("the logs hold a secret (%d characters) or a presigned URL", len(s))
		}
	}
}

// recorded is a session recorded into MinIO.
type recorded struct {
	name     string
	manifest *capture.Manifest
	sha256   string
	keys     []byte
}

// session stores a Session of cluster with a recording of three chunks (and a keystroke log
// when keys), as the proxy leaves it.
func (e *recEnv) session(cluster string, record, keys bool) *recorded {
	e.t.Helper()
	tk, err := ticket.New()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	s := storetest.NewSession(tk, e.clock.Now(), time.Hour)
	s.Spec.ClusterRef = cluster
	if err := e.store.Create(ctx, s); err != nil {
		e.t.Fatal(err)
	}
	rec := &recorded{name: tk.ID}
	if !record {
		return rec
	}
	st, err := storage.New(storage.Config{Client: e.s3.Client(e.t), Bucket: e.s3.Bucket, Prefix: "rec", SpoolDir: e.t.TempDir()})
	if err != nil {
		e.t.Fatal(err)
	}
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	r, err := st.Begin(ctx, capture.Meta{Session: tk.ID, User: "alice", SecretID: "42", Target: "127.0.0.1:13389", Launcher: "rdp", Start: start, Cluster: cluster})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range 30 {
		if err := r.Write(capture.Record{Time: start.Add(time.Duration(i+1) * 100 * time.Millisecond), Direction: capture.TargetToClient,
			Kind: capture.KindFastPath, PDU: []byte{0, 3, byte(i)}}); err != nil {
			e.t.Fatal(err)
		}
		if i%10 == 9 {
			if err := r.Flush(); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	if keys {
		rec.keys = []byte(`{"t":"2026-11-29T09:00:01.000Z","text":"dir"}` + "\n")
		if err := r.PutKeystrokes(ctx, rec.keys); err != nil {
			e.t.Fatal(err)
		}
	}
	m, err := r.Close(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	rec.manifest, rec.sha256 = m, hex.EncodeToString(sum[:])
	if _, err := e.store.UpdateStatus(ctx, tk.ID, func(st *v1alpha1.SessionStatus) error {
		st.Phase = v1alpha1.SessionEnded
		st.Recording = &v1alpha1.RecordingReference{URI: "s3://" + e.s3.Bucket + "/" + storage.ManifestKey("rec", tk.ID), SHA256: rec.sha256, Complete: true}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

type recAnswer struct {
	status  int
	header  http.Header
	body    string
	problem map[string]any
	rec     launch.Recording
}

func (e *recEnv) get(path string, auth func(*http.Request)) recAnswer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.api.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := e.api.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := recAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	switch {
	case resp.Header.Get("Content-Type") == "application/problem+json":
		_ = json.Unmarshal(b, &a.problem)
	case resp.StatusCode == http.StatusOK && strings.HasPrefix(path, "/api/"):
		if err := json.Unmarshal(b, &a.rec); err != nil {
			e.t.Fatalf("listing: %v: %s", err, b)
		}
	}
	for _, s := range append(recPasswords, e.s3.SecretKey) {
		if strings.Contains(a.body, s) {
			e.t.Errorf("answer %d holds a secret: %s", a.status, a.body)
		}
	}
	if a.status != http.StatusOK && strings.Contains(a.body, "X-Amz-") {
		e.t.Errorf("refusal %d holds a URL: %s", a.status, a.body)
	}
	return a
}

func basicAuth(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func alice(r *http.Request) { r.SetBasicAuth("alice", "Rec-Alice-Pass-3") }

func (a recAnswer) want(t *testing.T, status int, detail string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if detail != "" {
		if d, _ := a.problem["detail"].(string); !strings.Contains(d, detail) {
			t.Fatalf("detail %q, want it to say %q", d, detail)
		}
	}
}

// fetch gets a presigned URL as a browser does: no credentials of its own.
func fetch(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u) //nolint:noctx // a test
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestRecordingAPI: the secret's viewer gets the recording with presigned URLs that fetch its
// objects; everyone else gets 401, 403 or 404 problems and no URL.
func TestRecordingAPI(t *testing.T) {
	e := newRecEnv(t, 0)
	rec := e.session("front", true, true)
	path := "/api/v1/recordings/" + rec.name

	t.Run("listed", func(t *testing.T) {
		a := e.get(path, alice)
		a.want(t, http.StatusOK, "")
		r := a.rec
		if r.Session != rec.name || r.User != "alice" || r.SecretID != 42 || r.Target != "127.0.0.1:13389" || r.Launcher != "rdp" ||
			!r.Start.Equal(rec.manifest.Start) || !r.End.Equal(rec.manifest.End) || !r.Complete {
			t.Fatalf("listing %+v", r)
		}
		if want := e.clock.Now().Add(launch.DefaultRecordingURLLifetime); !r.ExpiresAt.Equal(want) {
			t.Fatalf("expiresAt %v, want %v", r.ExpiresAt, want)
		}
		if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("headers %v", a.header)
		}
		if len(r.Chunks) != 3 {
			t.Fatalf("%d chunks", len(r.Chunks))
		}
		for i, c := range r.Chunks {
			mc := rec.manifest.Chunks[i]
			if c.Seq != mc.Seq || c.Size != mc.Size || c.SHA256 != mc.SHA256 || c.Records != mc.Records || !c.First.Equal(mc.First) || !c.Last.Equal(mc.Last) {
				t.Fatalf("chunk %+v, manifest %+v", c, mc)
			}
			u, err := url.Parse(c.URL)
			if err != nil || u.Host != e.s3.Endpoint || u.Query().Get("X-Amz-Expires") != "300" || u.Query().Get("X-Amz-Signature") == "" {
				t.Fatalf("chunk URL %s", c.URL)
			}
			status, b := fetch(t, c.URL)
			sum := sha256.Sum256(b)
			if status != http.StatusOK || hex.EncodeToString(sum[:]) != mc.SHA256 {
				t.Fatalf("chunk %d through its URL: %d, %d bytes", c.Seq, status, len(b))
			}
		}
		if status, b := fetch(t, r.KeystrokesURL); status != http.StatusOK || string(b) != string(rec.keys) {
			t.Fatalf("keystrokes through their URL: %d %q", status, b)
		}
		// A URL is for its object only.
		u, _ := url.Parse(r.Chunks[0].URL)
		u.Path = strings.Replace(u.Path, "chunk-000001", "chunk-000002", 1)
		if status, _ := fetch(t, u.String()); status != http.StatusForbidden {
			t.Fatalf("a URL signed for chunk 1 read chunk 2: %d", status)
		}
	})

	t.Run("viewing audited", func(t *testing.T) {
		viewings := func() int {
			n := 0
			for _, a := range e.ss.Emulator.Audits(42) {
				if strings.Contains(a.Notes, "alice opened the recording of session "+rec.name) {
					n++
				}
			}
			return n
		}
		e.get(path, alice).want(t, http.StatusOK, "")
		if n := viewings(); n != 1 {
			t.Fatalf("%d audit entries of alice's viewing, want 1: %+v", n, e.ss.Emulator.Audits(42))
		}
		e.get(path, alice).want(t, http.StatusOK, "") // the page renewing its URLs: the same viewing
		if n := viewings(); n != 1 {
			t.Fatalf("renewing the URLs wrote another audit entry (%d)", n)
		}
		e.clock.Advance(31 * time.Minute)
		e.get(path, alice).want(t, http.StatusOK, "")
		if n := viewings(); n != 2 {
			t.Fatalf("%d audit entries after half an hour, want 2", n)
		}
	})

	t.Run("bearer token", func(t *testing.T) {
		client, err := secretserver.NewClient(secretserver.Config{BaseURL: e.ss.URL, CABundle: e.ss.CAPEM})
		if err != nil {
			t.Fatal(err)
		}
		defer client.CloseIdleConnections()
		tok, err := client.WithPassword(secretserver.Credentials{Username: "alice", Password: "Rec-Alice-Pass-3"}).Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		e.get(path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }).want(t, http.StatusOK, "")
		e.get(path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-a-token") }).
			want(t, http.StatusUnauthorized, "did not accept")
	})

	t.Run("refused", func(t *testing.T) {
		a := e.get(path, nil)
		a.want(t, http.StatusUnauthorized, "send your Secret Server username and password")
		if a.header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
		e.get(path, basicAuth("alice", "wrong")).want(t, http.StatusUnauthorized, "did not accept")
		e.get(path, basicAuth("bob", "Rec-Bob-Pass-3")).want(t, http.StatusForbidden, "secret 42 does not exist or you may not view it")
		e.get(path, basicAuth("mallory", "x")).want(t, http.StatusUnauthorized, "")
	})

	t.Run("not found", func(t *testing.T) {
		e.get("/api/v1/recordings/s-nosuchsession", alice).want(t, http.StatusNotFound, `there is no session "s-nosuchsession"`)
		e.get("/api/v1/recordings/..%2Fother", alice).want(t, http.StatusNotFound, "")
		plain := e.session("plain", false, false)
		e.get("/api/v1/recordings/"+plain.name, alice).want(t, http.StatusNotFound, "has no recording")
		// Who may not view the secret does not learn whether there is a recording.
		e.get("/api/v1/recordings/"+plain.name, basicAuth("bob", "Rec-Bob-Pass-3")).want(t, http.StatusForbidden, "")
	})

	t.Run("no keystrokes", func(t *testing.T) {
		other := e.session("front", true, false)
		a := e.get("/api/v1/recordings/"+other.name, alice)
		a.want(t, http.StatusOK, "")
		if a.rec.KeystrokesURL != "" || strings.Contains(a.body, "keystrokesUrl") {
			t.Fatalf("keystrokes of a session without a log: %s", a.body)
		}
	})

	t.Run("manifest missing or changed", func(t *testing.T) {
		gone := e.session("front", true, false)
		if err := e.s3.Client(t).RemoveObject(context.Background(), e.s3.Bucket, storage.ManifestKey("rec", gone.name), minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		e.get("/api/v1/recordings/"+gone.name, alice).want(t, http.StatusNotFound, "manifest is not in storage")

		changed := e.session("front", true, false)
		if _, err := e.store.UpdateStatus(context.Background(), changed.name, func(st *v1alpha1.SessionStatus) error {
			st.Recording.SHA256 = strings.Repeat("0", 64)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.get("/api/v1/recordings/"+changed.name, alice).want(t, http.StatusBadGateway, "not the one the session recorded")
	})

	t.Run("storage unavailable", func(t *testing.T) {
		e.catalog.credentialsError = io.ErrUnexpectedEOF
		defer func() { e.catalog.credentialsError = nil }()
		a := e.get(path, alice)
		a.want(t, http.StatusServiceUnavailable, `recording storage of cluster "front"`)
	})

	t.Run("methods and player", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.api.URL+path, nil)
		alice(req)
		resp, err := e.api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
		// Without a player, the page says so.
		e.get("/recordings/"+rec.name, nil).want(t, http.StatusNotFound, "does not serve the recording player")
		e.get("/player/player.js", nil).want(t, http.StatusNotFound, "")
	})

	if n := counted(t, e.reg, "listed"); n != 6 { // listed, three in viewing audited, bearer token, no keystrokes
		t.Fatalf("%v listings counted", n)
	}
	if n := counted(t, e.reg, "forbidden"); n < 2 {
		t.Fatalf("%v refusals counted", n)
	}
}

// counted is the value of sessionconnector_recording_requests_total{outcome}.
func counted(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "sessionconnector_recording_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// TestRecordingURLsExpire: the URLs live RecordingURLLifetime, after which S3 refuses them.
// A recording outlives its Session: once the Session is deleted after its retention, the
// recording is found by its manifest in the clusters' storage, and the same rule (may the user
// read the secret?) decides.
func TestRecordingAfterSessionDeleted(t *testing.T) {
	e := newRecEnv(t, 0)
	rec := e.session("front", true, true)
	if err := e.store.Delete(context.Background(), rec.name); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/recordings/" + rec.name
	a := e.get(path, alice)
	a.want(t, http.StatusOK, "")
	if r := a.rec; r.Session != rec.name || r.SecretID != 42 || r.User != "alice" || len(r.Chunks) != 3 || r.KeystrokesURL == "" || !r.Complete {
		t.Fatalf("listing %+v", r)
	}
	if status, b := fetch(t, a.rec.Chunks[2].URL); status != http.StatusOK || len(b) == 0 {
		t.Fatalf("chunk 3 through its URL: %d", status)
	}
	e.get(path, basicAuth("bob", "Rec-Bob-Pass-3")).want(t, http.StatusForbidden, "")
	e.get(path, basicAuth("alice", "wrong")).want(t, http.StatusUnauthorized, "")
	e.get("/api/v1/recordings/nosuchsession1234", alice).want(t, http.StatusNotFound, "nor a recording")
	// A cluster that shares the storage but not the recording's Secret Server does not find it.
	shared := e.catalog.clusters["front"].DeepCopy()
	shared.Name = "shared"
	e.catalog.clusters = map[string]*v1alpha1.RDSCluster{"shared": shared}
	e.get(path, alice).want(t, http.StatusNotFound, "nor a recording")
	// Without valid credentials nothing is looked up in storage.
	e.get("/api/v1/recordings/nosuchsession1234", basicAuth("mallory", "guess")).want(t, http.StatusUnauthorized, "")
	e.get("/api/v1/recordings/nosuchsession1234", func(r *http.Request) { r.Header.Set("Authorization", "Bearer forged") }).
		want(t, http.StatusUnauthorized, "")
}

// With browserEndpoint, the presigned URLs point at the storage as browsers reach it (here
// MinIO under another host name), signed for that host, and they work there.
func TestRecordingBrowserEndpoint(t *testing.T) {
	e := newRecEnv(t, 0)
	_, port, _ := strings.Cut(e.s3.Endpoint, ":")
	public := e.catalog.clusters["front"].DeepCopy()
	public.Name = "public"
	public.Spec.RecordingStorage.Region = "" // asked of the storage's own endpoint
	public.Spec.RecordingStorage.BrowserEndpoint = "http://localhost:" + port
	e.catalog.clusters["public"] = public
	rec := e.session("public", true, true)
	a := e.get("/api/v1/recordings/"+rec.name, alice)
	a.want(t, http.StatusOK, "")
	for _, u := range []string{a.rec.Chunks[0].URL, a.rec.KeystrokesURL} {
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host != "localhost:"+port {
			t.Fatalf("URL %s does not point at the browser endpoint", u)
		}
		if status, b := fetch(t, u); status != http.StatusOK || len(b) == 0 {
			t.Fatalf("%s: %d", u, status)
		}
	}
}

func TestRecordingURLsExpire(t *testing.T) {
	e := newRecEnv(t, 2*time.Second)
	rec := e.session("front", true, true)
	a := e.get("/api/v1/recordings/"+rec.name, alice)
	a.want(t, http.StatusOK, "")
	if want := e.clock.Now().Add(2 * time.Second); !a.rec.ExpiresAt.Equal(want) {
		t.Fatalf("expiresAt %v, want %v", a.rec.ExpiresAt, want)
	}
	u := a.rec.Chunks[0].URL
	if q, _ := url.Parse(u); q.Query().Get("X-Amz-Expires") != "2" {
		t.Fatalf("URL %s", u)
	}
	if status, _ := fetch(t, u); status != http.StatusOK {
		t.Fatalf("fresh URL: %d", status)
	}
	time.Sleep(3 * time.Second)
	if status, _ := fetch(t, u); status != http.StatusForbidden {
		t.Fatalf("expired URL: %d", status)
	}
	if status, _ := fetch(t, a.rec.KeystrokesURL); status != http.StatusForbidden {
		t.Fatalf("expired keystrokes URL: %d", status)
	}
	// Asking again gives URLs that work.
	again := e.get("/api/v1/recordings/"+rec.name, alice)
	if status, _ := fetch(t, again.rec.Chunks[0].URL); status != http.StatusOK {
		t.Fatalf("renewed URL: %d", status)
	}
}

// TestRecordingURLLifetimeBounds: a lifetime S3 cannot sign is refused at start.
func TestRecordingURLLifetimeBounds(t *testing.T) {
	store, err := embedded.Open(t.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, d := range []time.Duration{time.Millisecond, 8 * 24 * time.Hour, -time.Second} {
		_, err := launch.New(launch.Config{Catalog: &recCatalog{}, Store: store, RecordingURLLifetime: d,
			SecretServer: func(context.Context, *v1alpha1.RDSCluster) (*secretserver.Client, error) { return nil, nil }})
		if err == nil {
			t.Fatalf("lifetime %v accepted", d)
		}
	}
}
