// Package testbin builds the sessionconnector binary for tests that run it as a process, and
// picks free loopback ports for it.
package testbin

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

// Build compiles ./cmd/sessionconnector into a temporary folder and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	root, err := kubeenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sessionconnector")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sessionconnector")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
