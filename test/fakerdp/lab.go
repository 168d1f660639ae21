package fakerdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/secretserver"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// Names the Lab's catalog uses; storetest.NewSession names the same cluster and launcher.
const (
	LabCluster  = "front-door"
	LabLauncher = "rdp"
	LabSecretID = 42

	labAppUser     = "connector"
	labAppPassword = "Lab-Connector-Pass-1"
)

// LabOptions configure StartLab.
type LabOptions struct {
	// User, Domain and Password are the fields of the Windows Account secret the Sessions name
	// (user "labuser" when empty). Password must be set.
	User, Domain, Password string
	// Target configures the fake target; its Password defaults to Password.
	Target TargetOptions
	// Logger gets the proxy's and the emulator's logs; discarded when zero.
	Logger logr.Logger
	// Config, when set, adjusts the proxy's configuration before it starts.
	Config func(*proxy.Config)
	// S3AccessKey and S3SecretKey are what the catalog returns as recording credentials.
	S3AccessKey, S3SecretKey string
	// Cluster and Launcher, when set, adjust the catalog's RDSCluster and SessionLauncher.
	Cluster  func(*v1alpha1.RDSCluster)
	Launcher func(*v1alpha1.SessionLauncher)
}

// Lab is a real proxy.Server in front of a fake Target: the Secret Server emulator holds the
// target's secret (its machine is the target's address), an embedded store keeps the Sessions
// and a static catalog has one RDSCluster pinning the target's certificate and one launcher.
type Lab struct {
	// Addr is the proxy's listening address.
	Addr     string
	Server   *proxy.Server
	Target   *Target
	Store    sessionstore.Store
	Registry *prometheus.Registry
	Emulator *emulator.Server

	clients *secretserver.Clients
}

// labCatalog serves the Lab's cluster and launcher.
type labCatalog struct {
	cluster  *v1alpha1.RDSCluster
	launcher *v1alpha1.SessionLauncher
	s3Access string
	s3Secret string
}

// RecordingCredentials implements catalog.RecordingAccount.
func (c *labCatalog) RecordingCredentials(context.Context, *v1alpha1.RDSCluster) (string, string, error) {
	if c.s3Access == "" {
		return "", "", errors.New("the lab has no recording credentials")
	}
	return c.s3Access, c.s3Secret, nil
}

func (c *labCatalog) Launcher(_ context.Context, name string) (*v1alpha1.SessionLauncher, error) {
	if name != c.launcher.Name {
		return nil, catalog.ErrNotFound
	}
	return c.launcher.DeepCopy(), nil
}

func (c *labCatalog) Cluster(_ context.Context, name string) (*v1alpha1.RDSCluster, error) {
	if name != c.cluster.Name {
		return nil, catalog.ErrNotFound
	}
	return c.cluster.DeepCopy(), nil
}

func (c *labCatalog) ApplicationAccount(context.Context, *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	return secretserver.Credentials{Username: labAppUser, Password: labAppPassword}, nil
}

// StartLab starts the emulator, the store, the target and the proxy; they stop with the test.
func StartLab(t testing.TB, opts LabOptions) *Lab {
	t.Helper()
	if opts.Password == "" {
		t.Fatal("fakerdp: LabOptions.Password is required")
	}
	if opts.User == "" {
		opts.User = "labuser"
	}
	if opts.Target.Password == "" {
		opts.Target.Password = opts.Password
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	target := StartTarget(t, opts.Target)

	fields := map[string]string{"machine": target.Addr, "username": opts.User, "password": opts.Password}
	template := emulator.WindowsAccountTemplate
	if opts.Domain != "" {
		template = emulator.ActiveDirectoryAccountTemplate
		fields = map[string]string{"domain": opts.Domain, "username": opts.User, "password": opts.Password}
	}
	seed := &emulator.Seed{
		Users: []emulator.SeedUser{{Username: labAppUser, Password: labAppPassword, ApplicationAccount: true}},
		Secrets: []emulator.SeedSecret{{ID: LabSecretID, Name: "fake target", Template: template, Fields: fields,
			Viewers: []string{labAppUser}}},
	}
	ss, err := emulator.Start(seed, emulator.Options{Logger: log.WithName("emulator")}, t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })

	dir := t.TempDir()
	store, err := embedded.Open(filepath.Join(dir, "state"), embedded.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	files, err := pki.EnsureServerFiles(filepath.Join(dir, "tls"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cat := &labCatalog{
		cluster: &v1alpha1.RDSCluster{Spec: v1alpha1.RDSClusterSpec{
			SecretServer: v1alpha1.SecretServerSpec{URL: ss.URL, CABundle: string(ss.CAPEM)},
			TargetTLS:    v1alpha1.TargetTLSSpec{PinnedSHA256: []string{target.CertSHA256()}},
		}},
		launcher: &v1alpha1.SessionLauncher{Spec: v1alpha1.SessionLauncherSpec{ClusterRef: LabCluster,
			Templates: []v1alpha1.TemplateReference{{Name: template}}}},
	}
	cat.cluster.Name, cat.launcher.Name = LabCluster, LabLauncher
	cat.s3Access, cat.s3Secret = opts.S3AccessKey, opts.S3SecretKey
	if opts.Cluster != nil {
		opts.Cluster(cat.cluster)
	}
	if opts.Launcher != nil {
		opts.Launcher(cat.launcher)
	}

	clients := &secretserver.Clients{Logger: log.WithName("secretserver")}
	t.Cleanup(clients.CloseIdleConnections) // before the emulator's Close
	reg := prometheus.NewRegistry()
	cfg := proxy.Config{
		Name: "fakerdp-lab", Cluster: LabCluster, Store: store, Catalog: cat, SecretServers: clients,
		CertFile: files.Cert, KeyFile: files.Key, Logger: log.WithName("proxy"), Registerer: reg,
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &Lab{Addr: ln.Addr().String(), Server: srv, Target: target, Store: store, Registry: reg, Emulator: ss, clients: clients}
}

// Issue stores a new Session for the lab's target and secret and returns its ticket.
func (l *Lab) Issue(t testing.TB) ticket.Ticket {
	t.Helper()
	tk, err := l.IssueErr()
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// IssueErr is Issue for goroutines other than the test's.
func (l *Lab) IssueErr() (ticket.Ticket, error) {
	tk, err := ticket.New()
	if err != nil {
		return ticket.Ticket{}, err
	}
	s := storetest.NewSession(tk, time.Now(), time.Hour)
	s.Spec.Target = l.Target.Addr
	s.Spec.SecretID = LabSecretID
	if err := l.Store.Create(context.Background(), s); err != nil {
		return ticket.Ticket{}, fmt.Errorf("fakerdp: create session: %w", err)
	}
	return tk, nil
}

// WaitPhase waits until the Session reaches phase and returns it.
func (l *Lab) WaitPhase(t testing.TB, name string, phase v1alpha1.SessionPhase, timeout time.Duration) *v1alpha1.Session {
	t.Helper()
	var last *v1alpha1.Session
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s, err := l.Store.Get(context.Background(), name)
		if err == nil && s.Status.Phase == phase {
			return s
		}
		last = s
	}
	if last != nil {
		t.Fatalf("session %s never reached %s; last status %+v", name, phase, last.Status)
	}
	t.Fatalf("session %s never reached %s", name, phase)
	return nil
}

// Metric returns the value of a counter or gauge of the proxy's registry whose labels include
// the given name/value pairs; 0 when there is none.
func (l *Lab) Metric(name string, labels ...string) float64 {
	families, err := l.Registry.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
