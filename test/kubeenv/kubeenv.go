// Package kubeenv starts a real kube-apiserver and etcd (controller-runtime envtest) with the
// project's CRDs installed, for tests.
//
// The binaries come from KUBEBUILDER_ASSETS, or else from the cache that hack/envtest/build.sh
// fills. When neither has them the tests are skipped, unless SC_REQUIRE_PEERS=1 (set by CI and
// `make test`), which turns the skip into a failure.
package kubeenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sessionconnector/sessionconnector/kubescheme"
)

// Env is a running API server.
type Env struct {
	Config *rest.Config
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// Scheme returns a scheme with the Kubernetes built-ins and the project's types.
func Scheme() *runtime.Scheme { return kubescheme.New() }

// RepoRoot finds the folder with go.mod above the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// assets finds the folder with kube-apiserver and etcd.
func assets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	cache := os.Getenv("SESSIONCONNECTOR_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "sessionconnector")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "envtest", "k8s-*", "kube-apiserver"))
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		dir := filepath.Dir(matches[i])
		if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
			return dir
		}
	}
	return ""
}

// Required reports whether missing peers must fail the tests instead of skipping them.
func Required() bool { return os.Getenv("SC_REQUIRE_PEERS") == "1" }

// Start starts an API server with the CRDs from config/crd/bases. It returns (nil, nil) when the
// binaries are missing and not required; the caller then skips.
func Start() (*Env, error) {
	dir := assets()
	if dir == "" {
		if Required() {
			return nil, fmt.Errorf("envtest binaries not found: run hack/envtest/build.sh or set KUBEBUILDER_ASSETS")
		}
		return nil, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest from %s: %w", dir, err)
	}
	return &Env{Config: cfg, Scheme: env.Scheme, env: env}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	if e == nil {
		return nil
	}
	return e.env.Stop()
}

// Client returns a new client that reads straight from the API server.
func (e *Env) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(e.Config, client.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Main runs a test binary's tests with an API server in *envp. It skips (exit 0 with a message)
// when the binaries are missing and not required.
func Main(m *testing.M, envp **Env) int {
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeenv:", err)
		return 1
	}
	if env == nil {
		fmt.Fprintln(os.Stderr, "kubeenv: SKIP: no kube-apiserver/etcd binaries (run hack/envtest/build.sh)")
	}
	*envp = env
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeenv: stop:", err)
	}
	return code
}
