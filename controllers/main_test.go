package controllers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

// The tests share one API server (envtest), one manager running the three reconcilers as the
// manager command wires them, and one Secret Server emulator. Each test works in its own namespace.
var (
	env      *kubeenv.Env
	vault    *emulator.Server
	testOpts = Options{
		ProxyImage:       "registry.example.com/sessionconnector:test",
		SessionRetention: time.Hour,
		RefreshInterval:  2 * time.Second,
		CheckTTL:         time.Second,
		CheckTimeout:     3 * time.Second,
	}
)

const (
	appUser     = "connector"
	appPassword = "Connector-Pass-1"
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	// Fuzzing runs the pure fuzz targets in worker processes; they need no API server.
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	if fw := flag.Lookup("test.fuzzworker"); fw != nil && fw.Value.String() == "true" {
		return m.Run()
	}
	e, err := kubeenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeenv:", err)
		return 1
	}
	if e == nil {
		fmt.Fprintln(os.Stderr, "kubeenv: SKIP: no kube-apiserver/etcd binaries (run hack/envtest/build.sh)")
		return m.Run()
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "kubeenv: stop:", err)
		}
	}()
	certDir, err := os.MkdirTemp("", "controllers-vault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(certDir) }()
	vault, err = emulator.Start(&emulator.Seed{Users: []emulator.SeedUser{
		{Username: appUser, Password: appPassword, ApplicationAccount: true},
	}}, emulator.Options{}, certDir, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = vault.Close() }()

	ctx, cancel := context.WithCancel(context.Background())
	done, err := startManager(ctx, e)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	env = e
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code
}

// startManager runs the reconcilers in a manager built like the manager command's (cache
// options, Setup), without leader election, probes or metrics.
func startManager(ctx context.Context, e *kubeenv.Env) (<-chan error, error) {
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Logger:                 logr.Discard(),
		Cache:                  CacheOptions(nil),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	if err := Setup(ctx, mgr, testOpts); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !mgr.GetCache().WaitForCacheSync(waitCtx) {
		return nil, errors.New("the manager's cache did not sync")
	}
	return done, nil
}

// needEnv skips a test without envtest binaries.
func needEnv(t *testing.T) client.Client {
	t.Helper()
	if env == nil {
		t.Skip("no envtest binaries")
	}
	return env.Client(t)
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ctrl-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
