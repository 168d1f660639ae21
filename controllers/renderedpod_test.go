package controllers

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/testbin"

	"github.com/sessionconnector/sessionconnector/test/logbuf"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// TestRenderedPodRunsAWorkingProxy reads the proxy Deployment the operator created and runs its
// container locally — the real binary with the pod's command, args and environment, the
// ConfigMap and Secrets written as files where the pod mounts them, the ServiceAccount's token
// as its Kubernetes identity — then launches a session through that process's launch API and
// connects to it over RDP, through to a target that checks the injected password.
func TestRenderedPodRunsAWorkingProxy(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	bin := testbin.Build(t)

	target := fakerdp.StartTarget(t, fakerdp.TargetOptions{Password: "Pod-Target-Pass-1"})
	ss := emulatortest.Start(t, fmt.Sprintf(`
users:
  - {username: alice, password: Pod-Alice-Pass-1}
  - {username: connector, password: Pod-Connector-Pass-1, applicationAccount: true}
secrets:
  - {id: 42, name: pod target, template: Windows Account,
     fields: {machine: %q, username: poduser, password: Pod-Target-Pass-1}, viewers: [alice, connector]}
`, target.Addr), emulator.Options{})

	ns := newNamespace(t, c)
	rdpPort, apiPort := testbin.FreePort(t), testbin.FreePort(t)
	cluster := &v1alpha1.RDSCluster{}
	cluster.Name, cluster.Namespace = "pod", ns
	cluster.Spec = v1alpha1.RDSClusterSpec{
		SecretServer: v1alpha1.SecretServerSpec{URL: ss.URL, CABundle: string(ss.CAPEM),
			ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: "app"}},
		ExternalAddress: "127.0.0.1", ExternalPort: int32(rdpPort),
		TargetTLS: v1alpha1.TargetTLSSpec{PinnedSHA256: []string{target.CertSHA256()}},
	}
	launcher := &v1alpha1.SessionLauncher{}
	launcher.Name, launcher.Namespace = "rdp", ns
	launcher.Spec = v1alpha1.SessionLauncherSpec{ClusterRef: "pod", Templates: []v1alpha1.TemplateReference{{Name: "Windows Account"}}}
	create(t, c, newSecret(ns, "app", map[string]string{"username": "connector", "password": "Pod-Connector-Pass-1"}), cluster, launcher)

	var dep appsv1.Deployment
	eventually(t, waitFor, "proxy Deployment", func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pod-proxy"}, &dep)
	})
	pod := dep.Spec.Template.Spec
	container := pod.Containers[0]

	// The pod's volumes, materialised where the container mounts them (under a local root).
	mounts := t.TempDir()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	remap := map[string]string{}
	for _, m := range container.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("mount %s has no volume", m.Name)
		}
		dir := filepath.Join(mounts, m.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		remap[m.MountPath] = dir
		switch {
		case v.Secret != nil:
			var s corev1.Secret
			eventually(t, waitFor, "Secret "+v.Secret.SecretName, func() error {
				return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.Secret.SecretName}, &s)
			})
			for k, data := range s.Data {
				writeTestFile(t, filepath.Join(dir, k), data)
			}
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			eventually(t, waitFor, "ConfigMap "+v.ConfigMap.Name, func() error {
				return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v.ConfigMap.Name}, &cm)
			})
			for k, data := range cm.Data {
				writeTestFile(t, filepath.Join(dir, k), []byte(data))
			}
		case v.EmptyDir != nil:
		default:
			t.Fatalf("volume %s of an unexpected kind", v.Name)
		}
	}

	// The pod's identity: a token of its ServiceAccount, so the proxy runs with the Role the
	// operator granted it and no more.
	sa := &corev1.ServiceAccount{}
	sa.Name, sa.Namespace = pod.ServiceAccountName, ns
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("token for ServiceAccount %s: %v", pod.ServiceAccountName, err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos["pod"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["pod"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "pod", Namespace: ns}
	cfg.CurrentContext = "pod"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The container's command and args, with mount paths and listen ports mapped to this machine.
	args := append(append([]string{}, container.Command[1:]...), container.Args...)
	mapPath := func(v string) string { // the longest mount path that v lies under, once
		best := ""
		for from := range remap {
			if (v == from || strings.HasPrefix(v, from+"/")) && len(from) > len(best) {
				best = from
			}
		}
		if best == "" {
			return v
		}
		return remap[best] + strings.TrimPrefix(v, best)
	}
	for i, a := range args {
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "--") {
			a = name + "=" + mapPath(value)
		} else {
			a = mapPath(a)
		}
		switch {
		case strings.HasPrefix(a, "--listen="):
			a = "--listen=127.0.0.1:" + strconv.Itoa(rdpPort)
		case strings.HasPrefix(a, "--api-listen="):
			a = "--api-listen=127.0.0.1:" + strconv.Itoa(apiPort)
		}
		args[i] = a
	}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--listen":
			args[i+1] = "127.0.0.1:" + strconv.Itoa(rdpPort)
		case "--api-listen":
			args[i+1] = "127.0.0.1:" + strconv.Itoa(apiPort)
		}
	}
	if !strings.HasSuffix(container.Command[0], "sessionconnector") {
		t.Fatalf("unexpected command %v", container.Command)
	}
	// The pod this process stands for exists, as it would in a cluster (else the operator ends
	// its sessions as ProxyLost).
	stand := &corev1.Pod{Spec: *pod.DeepCopy()}
	stand.Name, stand.Namespace = "pod-proxy-test-0", ns
	create(t, c, stand)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + t.TempDir()}
	for _, e := range container.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			cmd.Env = append(cmd.Env, e.Name+"=pod-proxy-test-0")
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			cmd.Env = append(cmd.Env, e.Name+"="+ns)
		case e.ValueFrom == nil:
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	var logs logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		for _, pw := range []string{"Pod-Target-Pass-1", "Pod-Connector-Pass-1", "Pod-Alice-Pass-1"} {
			if strings.Contains(logs.String(), pw) {
				t.Errorf("a password appears in the proxy's logs")
			}
		}
		if t.Failed() {
			t.Logf("proxy args %v\nlogs:\n%s", args, logs.String())
		}
	})

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the operator's self-signed certificate
	defer hc.CloseIdleConnections()
	api := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	eventually(t, 30*time.Second, "the proxy's /readyz", func() error {
		resp, err := hc.Get(api + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	req, _ := http.NewRequest(http.MethodPost, api+"/api/v1/launches", strings.NewReader(`{"secretId": 42, "launcher": "rdp"}`))
	req.SetBasicAuth("alice", "Pod-Alice-Pass-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("launch: %d %s", resp.StatusCode, body)
	}
	if !bytes.Contains(body, []byte(fmt.Sprintf("full address:s:127.0.0.1:%d", rdpPort))) {
		t.Fatalf(".rdp file does not point at the cluster's address:\n%s", body)
	}
	var tk ticket.Ticket
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbalanceinfo:s:"); ok {
			if tk, err = ticket.Parse(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rdp, err := fakerdp.Dial(dialCtx, net.JoinHostPort("127.0.0.1", strconv.Itoa(rdpPort)), tk.Text(), fakerdp.ClientOptions{})
	if err != nil {
		t.Fatalf("RDP through the pod's proxy: %v", err)
	}
	defer rdp.Close()
	if st := target.Stats(); st.GoodLogons != 1 {
		t.Fatalf("the target saw %d good logons, want 1 (the secret's password injected)", st.GoodLogons)
	}
	eventually(t, waitFor, "Session Active", func() error {
		var s v1alpha1.Session
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tk.ID}, &s); err != nil {
			return err
		}
		if s.Status.Phase != v1alpha1.SessionActive || s.Status.ProxyName != "pod-proxy-test-0" {
			return fmt.Errorf("phase %s proxy %q", s.Status.Phase, s.Status.ProxyName)
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
