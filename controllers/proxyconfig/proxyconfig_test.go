package proxyconfig

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

func TestRoundTripAndOverlay(t *testing.T) {
	c := &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: "front"}, Spec: v1alpha1.RDSClusterSpec{Proxy: v1alpha1.ProxySpec{
		MaxSessions: 50, MaxHandshakes: 8, HandshakeTimeoutSeconds: 20, IdleTimeoutSeconds: 0, ShutdownGraceSeconds: 600,
	}}}
	b, err := FromCluster(c).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file wins over what the proxy would read from the RDSCluster, idle timeout 0 included.
	base := Limits{HandshakeTimeout: time.Minute, IdleTimeout: time.Hour, MaxHandshakes: 1, MaxSessions: 1, ShutdownGrace: time.Second}
	got := file.Overlay(base)
	want := Limits{HandshakeTimeout: 20 * time.Second, IdleTimeout: 0, MaxHandshakes: 8, MaxSessions: 50, ShutdownGrace: 600 * time.Second}
	if got != want {
		t.Errorf("overlay %+v, want %+v", got, want)
	}
	if got := LimitsOf(c.Spec.Proxy); got != want {
		t.Errorf("limits of the spec %+v, want %+v", got, want)
	}

	// What a file leaves out comes from the base.
	partial, err := Parse([]byte("kind: ProxyConfig\nmaxSessions: 3\nfutureField: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := partial.Overlay(base); got.MaxSessions != 3 || got.IdleTimeout != time.Hour || got.ShutdownGrace != time.Second {
		t.Errorf("partial overlay %+v", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"other kind": "kind: Deployment\n",
		"negative":   "maxSessions: -1\n",
		"not yaml":   "maxSessions: [\n",
	} {
		if _, err := Parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}
