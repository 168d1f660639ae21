package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/controllers/proxyconfig"
)

// renderAll returns every object the builders make for a cluster.
func renderAll(t testing.TB, c *v1alpha1.RDSCluster) map[string]runtime.ApplyConfiguration {
	t.Helper()
	data, err := proxyConfigData(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := checksum(data, map[string]map[string][]byte{"app": {"password": []byte("x")}})
	return map[string]runtime.ApplyConfiguration{
		"ServiceAccount":      buildServiceAccount(c),
		"Role":                buildRole(c),
		"RoleBinding":         buildRoleBinding(c),
		"ConfigMap":           buildConfigMap(c, data),
		"Deployment":          buildDeployment(c, "registry.example.com/sessionconnector:v1", sum),
		"Service":             buildService(c),
		"PodDisruptionBudget": buildPodDisruptionBudget(c),
		"DaemonSet":           buildAgentDaemonSet(c, "registry.example.com/sessionconnector:v1"),
	}
}

// specVariants are hand-picked clusters: every Service type, the optional parts on and off.
func specVariants() map[string]func(*v1alpha1.RDSCluster) {
	return map[string]func(*v1alpha1.RDSCluster){
		"defaults": func(*v1alpha1.RDSCluster) {},
		"cluster ip": func(c *v1alpha1.RDSCluster) {
			c.Spec.Proxy.Service.Type = corev1.ServiceTypeClusterIP
			c.Spec.Proxy.Service.NodePort = 30001 // ignored for ClusterIP
			c.Spec.Proxy.Service.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
		},
		"node port": func(c *v1alpha1.RDSCluster) {
			c.Spec.Proxy.Service.Type = corev1.ServiceTypeNodePort
			c.Spec.Proxy.Service.NodePort = 30002
		},
		"load balancer everything": func(c *v1alpha1.RDSCluster) {
			c.Spec.Proxy.Service = v1alpha1.ProxyServiceSpec{Type: corev1.ServiceTypeLoadBalancer, NodePort: 30003,
				Annotations:              map[string]string{"example.com/lb": "internal"},
				LoadBalancerSourceRanges: []string{"10.0.0.0/8", "192.168.0.0/16"}}
			c.Spec.ExternalAddress = "rdp.example.com"
			c.Spec.Proxy.TLSSecretRef = &v1alpha1.LocalSecretReference{Name: "rdp-tls"}
			c.Spec.Proxy.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			}
			c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://s3.example.com", Bucket: "rec",
				CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
			c.Spec.Agents.Enabled = true
		},
		"scaled to zero, no grace": func(c *v1alpha1.RDSCluster) {
			zero := int32(0)
			c.Spec.Proxy.Replicas = &zero
			c.Spec.Proxy.ShutdownGraceSeconds = 0
		},
		"recording credentials = application account": func(c *v1alpha1.RDSCluster) {
			c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "http://minio:9000", Bucket: "rec",
				CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "app"}}
		},
		"longest name": func(c *v1alpha1.RDSCluster) { c.Name = "a" + strings.Repeat("b", maxClusterNameLength-1) },
	}
}

// randomCluster varies every field the builders read.
func randomCluster(r *rand.Rand, i int) *v1alpha1.RDSCluster {
	pick := func(options ...string) string { return options[r.IntN(len(options))] }
	c := &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d-%s", i, pick("x", "corp", "site-a", strings.Repeat("z", 40)))}}
	c.Spec.SecretServer = v1alpha1.SecretServerSpec{URL: "https://vault.example.com/SecretServer",
		ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: pick("app", "vault-account", "a.b-c")}}
	if r.IntN(2) == 0 {
		n := r.Int32N(50)
		c.Spec.Proxy.Replicas = &n
	}
	c.Spec.Proxy.ShutdownGraceSeconds = r.Int32N(100000)
	c.Spec.Proxy.MaxSessions = 1 + r.Int32N(1000)
	c.Spec.Proxy.MaxHandshakes = 1 + r.Int32N(1000)
	c.Spec.Proxy.HandshakeTimeoutSeconds = 1 + r.Int32N(300)
	c.Spec.Proxy.IdleTimeoutSeconds = r.Int32N(86400)
	c.Spec.Proxy.Image = pick("", "example.com/sc:v2", "localhost:5000/sc@sha256:"+strings.Repeat("a", 64))
	c.Spec.Proxy.Service.Type = corev1.ServiceType(pick("", "ClusterIP", "NodePort", "LoadBalancer"))
	if r.IntN(2) == 0 {
		c.Spec.Proxy.Service.NodePort = 30000 + r.Int32N(2768)
	}
	if r.IntN(2) == 0 {
		c.Spec.Proxy.Service.LoadBalancerSourceRanges = []string{pick("10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32")}
	}
	if r.IntN(2) == 0 {
		c.Spec.Proxy.Service.Annotations = map[string]string{"example.com/" + pick("a", "b"): pick("", "x y", "1")}
	}
	if r.IntN(2) == 0 {
		c.Spec.Proxy.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(pick("64Mi", "1Gi", "3G"))}
	}
	if r.IntN(3) == 0 {
		c.Spec.Proxy.TLSSecretRef = &v1alpha1.LocalSecretReference{Name: pick("tls", "rdp.example.com-tls")}
	}
	c.Spec.ExternalAddress = pick("", "rdp.example.com", "10.1.2.3", "[2001:db8::1]")
	if r.IntN(2) == 0 {
		c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: pick("https://s3.amazonaws.com", "http://10.0.0.1:9000"),
			Bucket: "recordings", Prefix: pick("", "corp/"), CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: pick("s3", "app")}}
	}
	c.Spec.Agents.Enabled = r.IntN(2) == 0
	return c
}

// TestBuildersPassAPIValidation renders the objects of hand-picked and random valid clusters and
// has the API server validate them (server-side apply with dry run, which creates nothing).
// A cluster is valid when the API server accepts it; it is rendered from what the API server
// returns (defaults applied).
func TestBuildersPassAPIValidation(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	clusters := map[string]*v1alpha1.RDSCluster{}
	for name, mutate := range specVariants() {
		cl := &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: "variant"}}
		cl.Spec.SecretServer = v1alpha1.SecretServerSpec{URL: "https://vault.example.com",
			ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: "app"}}
		mutate(cl)
		clusters[name] = cl
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		clusters[fmt.Sprintf("random %d", i)] = randomCluster(r, i)
	}
	rejected := 0
	for name, cl := range clusters {
		cl.Namespace = ns
		if err := c.Create(ctx, cl, client.DryRunAll); err != nil {
			t.Logf("%s: not a valid RDSCluster, skipped: %v", name, err)
			rejected++
			continue
		}
		cl.UID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", len(name)))
		if err := validateClusterName(cl); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for kind, ac := range renderAll(t, cl) {
			err := c.Apply(ctx, ac, client.DryRunAll, client.FieldOwner(FieldOwner), client.ForceOwnership)
			// A dry run still checks that a node port is free; other tests' Services take
			// random ones. Another port is as good a test of the shape.
			for try := int32(1); err != nil && strings.Contains(err.Error(), "already allocated") && try < 5; try++ {
				moved := cl.DeepCopy()
				moved.Spec.Proxy.Service.NodePort = 30000 + (moved.Spec.Proxy.Service.NodePort-30000+97*try)%2768
				err = c.Apply(ctx, buildService(moved), client.DryRunAll, client.FieldOwner(FieldOwner), client.ForceOwnership)
			}
			if err != nil {
				t.Errorf("%s: %s refused: %v", name, kind, err)
			}
		}
		secret, err := newSelfSignedSecret(cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, secret, client.DryRunAll); err != nil {
			t.Errorf("%s: TLS Secret refused: %v", name, err)
		}
	}
	if rejected > len(clusters)/4 {
		t.Errorf("%d of %d generated clusters were invalid: the generator needs fixing", rejected, len(clusters))
	}
}

// FuzzBuilders checks what the API server cannot: the builders never panic, are deterministic,
// name and label everything validly and derive the numbers as documented.
func FuzzBuilders(f *testing.F) {
	f.Add("front", int32(2), int32(3600), "LoadBalancer", int32(0), "10.0.0.0/8", "rdp.example.com", true, true)
	f.Add("a", int32(0), int32(0), "ClusterIP", int32(30000), "", "", false, false)
	f.Add(strings.Repeat("x", 57), int32(100), int32(86400), "NodePort", int32(32767), "::/0", "10.0.0.1", true, false)
	f.Fuzz(func(t *testing.T, name string, replicas, grace int32, svcType string, nodePort int32, sourceRange, external string, agents, recording bool) {
		c := &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid"}}
		if validateClusterName(c) != nil || len(validation.IsDNS1123Subdomain(name)) > 0 || replicas < 0 || grace < 0 {
			return // the API server or the reconciler refuses these
		}
		c.Spec.Proxy.Replicas = &replicas
		c.Spec.Proxy.ShutdownGraceSeconds = grace
		c.Spec.Proxy.Service = v1alpha1.ProxyServiceSpec{Type: corev1.ServiceType(svcType), NodePort: nodePort}
		if sourceRange != "" {
			c.Spec.Proxy.Service.LoadBalancerSourceRanges = []string{sourceRange}
		}
		c.Spec.ExternalAddress = external
		c.Spec.SecretServer.ApplicationAccountSecretRef.Name = "app"
		c.Spec.Agents.Enabled = agents
		if recording {
			c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
		}
		first, second := renderAll(t, c), renderAll(t, c)
		for kind, ac := range first {
			a, err := json.Marshal(ac)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			b, _ := json.Marshal(second[kind])
			if string(a) != string(b) {
				t.Fatalf("%s: not deterministic", kind)
			}
			var obj struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := json.Unmarshal(a, &obj); err != nil {
				t.Fatal(err)
			}
			if errs := validation.IsDNS1123Subdomain(obj.Metadata.Name); len(errs) > 0 {
				t.Fatalf("%s name %q: %v", kind, obj.Metadata.Name, errs)
			}
			for k, v := range obj.Metadata.Labels {
				if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
					t.Fatalf("%s label %s=%s: %v", kind, k, v, errs)
				}
			}
			if len(obj.Metadata.OwnerReferences) != 1 || obj.Metadata.OwnerReferences[0].Controller == nil {
				t.Fatalf("%s owner references %+v", kind, obj.Metadata.OwnerReferences)
			}
		}
		d := buildDeployment(c, "img", "sum")
		if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != int64(grace)+preStopSleepSeconds+terminationMarginSeconds {
			t.Fatalf("termination grace %d for shutdown grace %d", got, grace)
		}
		if *d.Spec.Replicas != replicas {
			t.Fatalf("replicas %d, want %d", *d.Spec.Replicas, replicas)
		}
		svc := buildService(c)
		externalSvc := svcType == "" || svcType == "LoadBalancer" || svcType == "NodePort"
		if (svc.Spec.ExternalTrafficPolicy != nil) != externalSvc {
			t.Fatalf("type %q: externalTrafficPolicy %v", svcType, svc.Spec.ExternalTrafficPolicy)
		}
		if (svc.Spec.Ports[0].NodePort != nil) != (externalSvc && nodePort != 0) {
			t.Fatalf("type %q: nodePort %v", svcType, svc.Spec.Ports[0].NodePort)
		}
		file, err := proxyconfig.Parse([]byte(mustConfig(t, c)[proxyconfig.FileName]))
		if err != nil || *file.ShutdownGraceSeconds != grace {
			t.Fatalf("config %+v, %v", file, err)
		}
	})
}

func mustConfig(t *testing.T, c *v1alpha1.RDSCluster) map[string]string {
	data, err := proxyConfigData(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestChecksum(t *testing.T) {
	base := checksum(map[string]string{"a": "1"}, map[string]map[string][]byte{"s": {"k": []byte("v")}})
	for name, other := range map[string]string{
		"config value": checksum(map[string]string{"a": "2"}, map[string]map[string][]byte{"s": {"k": []byte("v")}}),
		"secret value": checksum(map[string]string{"a": "1"}, map[string]map[string][]byte{"s": {"k": []byte("w")}}),
		"secret name":  checksum(map[string]string{"a": "1"}, map[string]map[string][]byte{"t": {"k": []byte("v")}}),
		"key moved":    checksum(map[string]string{"a": "1"}, map[string]map[string][]byte{"s": {"kv": nil}}),
		"no secret":    checksum(map[string]string{"a": "1"}, nil),
	} {
		if other == base {
			t.Errorf("%s: same checksum", name)
		}
	}
	if again := checksum(map[string]string{"a": "1"}, map[string]map[string][]byte{"s": {"k": []byte("v")}}); again != base {
		t.Error("not deterministic")
	}
}

// A recorded cluster's proxies get a spool volume a little larger than what the proxy lets
// wait there, so that a long S3 outage fails recordings (as the launchers' policy says)
// before the kubelet evicts the pod; an unrecorded cluster's get none.
func TestDeploymentSpoolVolume(t *testing.T) {
	c := &v1alpha1.RDSCluster{}
	c.Name, c.Namespace = "front", "ns"
	c.Spec.SecretServer.ApplicationAccountSecretRef.Name = "app"
	spool := func(d *appsv1ac.DeploymentApplyConfiguration) (limit string, mounted bool) {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if *v.Name == volumeSpool {
				limit = v.EmptyDir.SizeLimit.String()
			}
		}
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			mounted = mounted || *m.MountPath == spoolDir
		}
		return limit, mounted
	}
	if limit, mounted := spool(buildDeployment(c, "img", "sum")); limit != "" || mounted {
		t.Fatalf("an unrecorded cluster has a spool volume (%q, mounted %t)", limit, mounted)
	}
	c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://s3.example.com", Bucket: "rec",
		CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
	limit, mounted := spool(buildDeployment(c, "img", "sum"))
	vol, proxyLimit := resource.MustParse(limit), resource.MustParse(spoolLimit)
	if !mounted || vol.Cmp(proxyLimit) <= 0 {
		t.Fatalf("spool volume %q (mounted %t) for a proxy limit of %s", limit, mounted, spoolLimit)
	}
}
