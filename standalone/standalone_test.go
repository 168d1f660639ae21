package standalone

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

func samplesDir(t *testing.T) string {
	t.Helper()
	root, err := kubeenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "config", "samples", "standalone")
}

func TestLoadSamples(t *testing.T) {
	m, err := Load(samplesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Cluster(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.ExternalPort != 3389 || c.Spec.EffectiveSessionTimeoutSeconds() != 900 {
		t.Fatalf("defaults: %+v", c.Spec)
	}
	l, err := m.Launcher(context.Background(), "rdp")
	if err != nil || l.Spec.Type != v1alpha1.LauncherRemoteDesktop || !l.Spec.IsActive() {
		t.Fatalf("launcher %+v, %v", l, err)
	}
	cred, err := m.ApplicationAccount(context.Background(), c)
	if err != nil || cred.Username != "connector" || cred.Password == "" {
		t.Fatalf("application account %v, %v", cred, err)
	}
}

func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	goodCluster = `apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: c}
spec:
  secretServer: {url: "https://vault.example.com", applicationAccountSecretRef: {name: app}}
`
	goodSecret = `apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {username: connector, password: pw}
`
	goodLauncher = `apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: l}
spec: {clusterRef: c, templates: [{name: Windows Account}]}
`
)

func TestLoadRefusesBadManifests(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"http secret server": {map[string]string{"a.yaml": strings.Replace(goodCluster, "https://", "http://", 1) + "---\n" + goodSecret}, "https://"},
		"unknown kind":       {map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}, "unsupported kind"},
		"unknown field":      {map[string]string{"a.yaml": goodCluster + "  bogus: 1\n---\n" + goodSecret}, "unknown field"},
		"duplicate":          {map[string]string{"a.yaml": goodCluster, "b.yaml": goodCluster}, "defined twice"},
		"missing app secret": {map[string]string{"a.yaml": goodCluster}, `Secret "app" is not in the config folder`},
		"missing cluster":    {map[string]string{"a.yaml": goodLauncher}, `RDSCluster "c" is not in the config folder`},
		"no name":            {map[string]string{"a.yaml": "apiVersion: v1\nkind: Secret\n"}, "no metadata.name"},
		"not yaml":           {map[string]string{"a.yaml": "{{{"}, "a.yaml document 1"},
		"bad host pattern": {map[string]string{"a.yaml": goodCluster + "---\n" + goodSecret + "---\n" +
			strings.Replace(goodLauncher, "templates:", "allowedHosts: ['10.0.0.0/99'], templates:", 1)}, "10.0.0.0/99"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing folder was accepted")
	}
}

func TestLoadMultiDocumentAndComments(t *testing.T) {
	dir := writeConfig(t, map[string]string{"all.yml": "# everything\n---\n" + goodCluster + "---\n# the account\n" + goodSecret + "---\n" + goodLauncher + "---\n", "ignored.txt": "nope"})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Clusters) != 1 || len(m.Launchers) != 1 || len(m.Secrets) != 1 {
		t.Fatalf("loaded %d clusters, %d launchers, %d secrets", len(m.Clusters), len(m.Launchers), len(m.Secrets))
	}
}

// TestStartServesLaunches runs standalone mode in-process against the emulator.
func TestStartServesLaunches(t *testing.T) {
	ss := emulatortest.Start(t, `
users: [{username: alice, password: A-Pass-1}, {username: connector, password: C-Pass-1, applicationAccount: true}]
secrets: [{id: 7, name: t, template: Windows Account, fields: {machine: "127.0.0.1:13389", username: u, password: T-Pass-1}, viewers: [alice, connector]}]
`, emulator.Options{})
	cluster := strings.Replace(goodCluster, `"https://vault.example.com"`, `"`+ss.URL+`", caBundle: "`+strings.ReplaceAll(string(ss.CAPEM), "\n", `\n`)+`"`, 1)
	dir := writeConfig(t, map[string]string{"c.yaml": cluster, "s.yaml": goodSecret, "l.yaml": goodLauncher})
	state := t.TempDir()
	srv, err := Start(Options{ConfigDir: dir, StateDir: state, APIListen: "127.0.0.1:0", RDPAddress: "127.0.0.1:13389", Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, srv.APIURL+"/api/v1/launches", strings.NewReader(`{"secretId": 7, "launcher": "l"}`))
	req.SetBasicAuth("alice", "A-Pass-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), "full address:s:127.0.0.1:13389") {
		t.Fatalf("launch: %d %s", resp.StatusCode, body)
	}
	resp, err = client.Get(srv.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `sessionconnector_launches_total{outcome="issued"} 1`) {
		t.Fatalf("metrics lack the launch:\n%s", metrics)
	}
	client.CloseIdleConnections()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// The session survives a restart of standalone mode.
	srv2, err := Start(Options{ConfigDir: dir, StateDir: state, APIListen: "127.0.0.1:0", RDPAddress: "127.0.0.1:13389", Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if list, err := srv2.Store.List(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("after restart: %d sessions, %v", len(list), err)
	}
}
