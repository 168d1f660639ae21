package chart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"
)

const releaseName = "sc"

// chartDir is the chart under test.
func chartDir(t testing.TB) string { return repoPath(t, "charts", "session-connector") }

// kubeVersion is the test API server's version, or the envtest default when there is none, for
// the chart's kubeVersion constraint and .Capabilities.
func kubeVersion(t testing.TB) *chartutil.KubeVersion {
	t.Helper()
	v := "v1.37.2" // hack/envtest/build.sh KUBE_VERSION
	if env != nil {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		if err != nil {
			t.Fatal(err)
		}
		info, err := dc.ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		v = info.GitVersion
	}
	kv, err := chartutil.ParseKubeVersion(v)
	if err != nil {
		t.Fatalf("kube version %q: %v", v, err)
	}
	return kv
}

// helmTemplate renders the chart as `helm template sc charts/session-connector -n NAMESPACE -f
// VALUES` does (values checked against values.schema.json, NOTES.txt rendered too).
func helmTemplate(t testing.TB, namespace string, values map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(format string, v ...any) { t.Logf(format, v...) }})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kubeVersion(t)
	rel, err := install.Run(chrt, values)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(rel.Info.Notes) == "" {
		t.Error("NOTES.txt rendered empty")
	}
	var objs []*unstructured.Unstructured
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		o, err := decodeYAML([]byte(doc))
		if err != nil {
			t.Fatalf("rendered manifest: %v\n%s", err, doc)
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

func mustTemplate(t testing.TB, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := helmTemplate(t, namespace, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return objs
}

// values parses YAML into chart values.
func values(t testing.TB, s string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// customValues turns on or changes everything the chart makes optional.
const customValues = `
crds:
  enabled: false
replicaCount: 2
image:
  repository: registry.example.com/platform/sessionconnector
  tag: 1.2.3
  pullPolicy: Always
imagePullSecrets:
  - name: registry-credentials
watchNamespaces: [team-a, team-b]
logLevel: debug
logFormat: console
extraArgs: ["--zap-devel=false"]
extraEnv:
  - name: HTTPS_PROXY
    value: http://proxy.example.com:3128
serviceAccount:
  name: connector-manager
  annotations:
    example.com/role: connector
metrics:
  readerSubjects:
    - kind: ServiceAccount
      name: prometheus-k8s
      namespace: monitoring
  serviceMonitor:
    enabled: true
    namespace: monitoring
    labels:
      release: prometheus
    interval: 15s
resources:
  requests:
    cpu: 50m
    memory: 96Mi
  limits:
    cpu: null # Helm merges maps with the defaults; null removes a default key
    memory: 512Mi
podAnnotations:
  example.com/scrape: "false"
podLabels:
  team: platform
commonLabels:
  cost-center: "42"
priorityClassName: system-cluster-critical
nodeSelector:
  kubernetes.io/os: linux
  node-role.example.com/infra: "true"
tolerations:
  - key: node-role.example.com/infra
    operator: Exists
    effect: NoSchedule
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: session-connector
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/name: session-connector
fullnameOverride: connector
`

func TestHelmLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"custom":   values(t, customValues),
	} {
		t.Run(name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(chartDir(t), vals, "sessionconnector-system", kubeVersion(t))
			for _, msg := range linter.Messages {
				// --strict: warnings fail too.
				if msg.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", msg)
				} else {
					t.Logf("helm lint: %s", msg)
				}
			}
		})
	}
}

// TestHelmValuesSchema: values.schema.json turns away typos and bad values before anything is
// rendered.
func TestHelmValuesSchema(t *testing.T) {
	for name, tc := range map[string]struct {
		values string
		want   string
	}{
		"misspelt key":         {"watchNamespace: [a]", "watchNamespace"},
		"bad log level":        {"logLevel: verbose", "logLevel"},
		"bad namespace":        {"watchNamespaces: [Team_A]", "watchNamespaces"},
		"bad pull policy":      {"image: {repository: x, pullPolicy: Sometimes}", "pullPolicy"},
		"bad digest":           {"image: {repository: x, digest: latest}", "digest"},
		"crds.enabled string":  {"crds: {enabled: 'yes'}", "enabled"},
		"unknown monitor knob": {"metrics: {serviceMonitor: {enabeld: true}}", "enabeld"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := helmTemplate(t, "default", values(t, tc.values))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a schema error naming %q, got %v", tc.want, err)
			}
		})
	}
}

// TestHelmCRDsMatchBases: the chart's CRDs are config/crd/bases, byte for byte once the lines
// hack/sync-chart-crds.sh adds (template actions alone on their line) are taken out, and object
// for object once rendered, but for the chart's labels and the keep annotation.
func TestHelmCRDsMatchBases(t *testing.T) {
	bases, err := filepath.Glob(repoPath(t, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir(t), "templates", "crds", "*.yaml"))
	if len(copies) != len(bases) {
		t.Errorf("chart has %d CRD templates, config/crd/bases %d: run make chart-crds", len(copies), len(bases))
	}
	templateLine := regexp.MustCompile(`^\s*\{\{.*\}\}\s*$`)
	for _, base := range bases {
		want, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir(t), "templates", "crds", filepath.Base(base)))
		if err != nil {
			t.Errorf("%v: run make chart-crds", err)
			continue
		}
		var body bytes.Buffer
		for _, line := range strings.SplitAfter(string(got), "\n") {
			if !templateLine.MatchString(strings.TrimSuffix(line, "\n")) {
				body.WriteString(line)
			}
		}
		if !bytes.Equal(body.Bytes(), want) {
			t.Errorf("chart copy of %s differs from it: run make chart-crds", filepath.Base(base))
		}
	}

	rendered := byKind(mustTemplate(t, "sessionconnector-system", nil), "CustomResourceDefinition")
	if len(rendered) != len(bases) {
		t.Fatalf("rendered %d CRDs, want %d", len(rendered), len(bases))
	}
	for _, base := range bases {
		want := one(t, readYAML(t, base), "CustomResourceDefinition", "")
		got := one(t, rendered, "CustomResourceDefinition", want.GetName()).DeepCopy()
		if got.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: no helm.sh/resource-policy: keep", got.GetName())
		}
		annotations := got.GetAnnotations()
		delete(annotations, "helm.sh/resource-policy")
		got.SetAnnotations(annotations)
		if got.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("CRD %s: no chart labels", got.GetName())
		}
		got.SetLabels(nil)
		if !equality.Semantic.DeepEqual(got.Object, want.Object) {
			t.Errorf("rendered CRD %s differs from config/crd/bases", got.GetName())
		}
	}

	// crds.keep=false drops the annotation; crds.enabled=false drops the CRDs.
	for _, crd := range byKind(mustTemplate(t, "default", values(t, "crds: {keep: false}")), "CustomResourceDefinition") {
		if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false: CRD %s still has helm.sh/resource-policy", crd.GetName())
		}
	}
	if n := len(byKind(mustTemplate(t, "default", values(t, "crds: {enabled: false}")), "CustomResourceDefinition")); n != 0 {
		t.Errorf("crds.enabled=false rendered %d CRDs", n)
	}
}

// managerRules reads the rules of the manager's ClusterRole from config/rbac/role.yaml
// (generated by controller-gen).
func managerRules(t testing.TB) []rbacv1.PolicyRule {
	t.Helper()
	objs := readYAML(t, repoPath(t, "config", "rbac", "role.yaml"))
	if len(objs) != 1 {
		t.Fatalf("config/rbac/role.yaml holds %d objects; the chart renders one ClusterRole from it", len(objs))
	}
	role := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", "manager-role"))
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

func TestHelmRBACMatchesRole(t *testing.T) {
	want := managerRules(t)
	objs := mustTemplate(t, "sessionconnector-system", nil)
	got := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", "sc-session-connector-manager"))
	if !equality.Semantic.DeepEqual(got.Rules, want) {
		t.Errorf("chart's manager ClusterRole rules differ from config/rbac/role.yaml: run make chart-crds\n got: %v\nwant: %v", got.Rules, want)
	}
	binding := typed[rbacv1.ClusterRoleBinding](t, one(t, objs, "ClusterRoleBinding", "sc-session-connector-manager"))
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: "sc-session-connector", Namespace: "sessionconnector-system"}
	if binding.RoleRef.Name != got.Name || !slices.Equal(binding.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("manager ClusterRoleBinding: roleRef %s, subjects %v", binding.RoleRef.Name, binding.Subjects)
	}
	one(t, objs, "ServiceAccount", "sc-session-connector")
	one(t, objs, "Role", "sc-session-connector-leader-election")
	one(t, objs, "RoleBinding", "sc-session-connector-leader-election")
	metricsAuth := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", "sc-session-connector-metrics-auth"))
	for _, res := range []string{"tokenreviews", "subjectaccessreviews"} {
		if !slices.ContainsFunc(metricsAuth.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Resources, res) && slices.Equal(r.Verbs, []string{"create"})
		}) {
			t.Errorf("metrics auth ClusterRole cannot create %s", res)
		}
	}
}

// managerContainer returns the Deployment and its manager container.
func managerContainer(t testing.TB, objs []*unstructured.Unstructured, name string) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := typed[appsv1.Deployment](t, one(t, objs, "Deployment", name))
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	if i < 0 {
		t.Fatalf("deployment %s has no manager container", name)
	}
	return d, d.Spec.Template.Spec.Containers[i]
}

// envValue returns a container's environment variable.
func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// checkHardened checks what every install of the manager promises: non-root, read-only root
// file system, RuntimeDefault seccomp, no capabilities, no privilege escalation, probes, resources.
func checkHardened(t testing.TB, d *appsv1.Deployment, c corev1.Container) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v: want read-only root, no privilege escalation, drop ALL", sc)
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %s: got %+v", want, probe)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" && p.ContainerPort == 8081 }) ||
		!slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 8443 }) {
		t.Errorf("ports %v: want health 8081 and metrics 8443", c.Ports)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: want memory requests and limits", c.Resources)
	}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/sessionconnector", "manager"}) {
		t.Errorf("command %v", c.Command)
	}
	for _, arg := range []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v: no %s", c.Args, arg)
		}
	}
	if img, _ := envValue(c, "SESSIONCONNECTOR_IMAGE"); img == "" {
		t.Error("no SESSIONCONNECTOR_IMAGE")
	}
}

func TestHelmDefaults(t *testing.T) {
	objs := mustTemplate(t, "sessionconnector-system", nil)
	d, c := managerContainer(t, objs, "sc-session-connector")
	checkHardened(t, d, c)
	chrt, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	wantImage := "ghcr.io/sessionconnector/sessionconnector:" + chrt.AppVersion()
	if c.Image != wantImage {
		t.Errorf("image %s, want %s", c.Image, wantImage)
	}
	if img, _ := envValue(c, "SESSIONCONNECTOR_IMAGE"); img != c.Image {
		t.Errorf("SESSIONCONNECTOR_IMAGE %q, want the manager's image %q", img, c.Image)
	}
	for _, arg := range c.Args {
		if strings.HasPrefix(arg, "--watch-namespaces") {
			t.Errorf("default values render %s; want all namespaces", arg)
		}
	}
	if !slices.Contains(c.Args, "--log-level=info") {
		t.Errorf("args %v: no --log-level=info", c.Args)
	}
	if len(byKind(objs, "ServiceMonitor")) != 0 {
		t.Error("ServiceMonitor rendered by default")
	}
	svc := typed[corev1.Service](t, one(t, objs, "Service", "sc-session-connector-metrics"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("metrics Service %+v does not select the manager on 8443", svc.Spec)
	}
}

func TestHelmCustomValues(t *testing.T) {
	objs := mustTemplate(t, "connector", values(t, customValues))
	d, c := managerContainer(t, objs, "connector")
	checkHardened(t, d, c)
	if c.Image != "registry.example.com/platform/sessionconnector:1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %s (%s)", c.Image, c.ImagePullPolicy)
	}
	if img, _ := envValue(c, "SESSIONCONNECTOR_IMAGE"); img != c.Image {
		t.Errorf("SESSIONCONNECTOR_IMAGE %q, want %q", img, c.Image)
	}
	for _, arg := range []string{"--watch-namespaces=team-a,team-b", "--log-level=debug", "--log-format=console", "--zap-devel=false"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v: no %s", c.Args, arg)
		}
	}
	if v, _ := envValue(c, "HTTPS_PROXY"); v != "http://proxy.example.com:3128" {
		t.Errorf("extraEnv not rendered: %v", c.Env)
	}
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse("50m")) != 0 {
		t.Errorf("cpu request %s", got.String())
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("memory limit %s", got.String())
	}
	if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("resources.limits.cpu: null left the default cpu limit")
	}
	pod := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 || pod.ServiceAccountName != "connector-manager" || pod.PriorityClassName != "system-cluster-critical" ||
		len(pod.Tolerations) != 1 || pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil ||
		pod.NodeSelector["node-role.example.com/infra"] != "true" || len(pod.TopologySpreadConstraints) != 1 ||
		len(pod.ImagePullSecrets) != 1 || d.Spec.Template.Labels["team"] != "platform" {
		t.Errorf("pod spec values not rendered: %+v", pod)
	}
	if n := len(byKind(objs, "CustomResourceDefinition")); n != 0 {
		t.Errorf("crds.enabled=false rendered %d CRDs", n)
	}
	sm := one(t, objs, "ServiceMonitor", "connector")
	if sm.GetNamespace() != "monitoring" || sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor %s labels %v", describe(sm), sm.GetLabels())
	}
	reader := typed[rbacv1.ClusterRoleBinding](t, one(t, objs, "ClusterRoleBinding", "connector-metrics-reader"))
	if len(reader.Subjects) != 1 || reader.Subjects[0].Name != "prometheus-k8s" {
		t.Errorf("metrics reader binding subjects %v", reader.Subjects)
	}
	if len(byKind(objs, "ServiceAccount")) != 1 {
		t.Errorf("want the ServiceAccount connector-manager")
	}
	for _, o := range objs {
		if o.GetLabels()["cost-center"] != "42" {
			t.Errorf("%s: no commonLabels", describe(o))
		}
	}
	// A digest wins over the tag; proxyImage replaces SESSIONCONNECTOR_IMAGE only.
	digest := "sha256:" + strings.Repeat("ab", 32)
	objs = mustTemplate(t, "connector", values(t, "image: {repository: r.example/sc, tag: '9', digest: '"+digest+"'}\nproxyImage: r.example/proxy:2"))
	_, c = managerContainer(t, objs, "sc-session-connector")
	if img, _ := envValue(c, "SESSIONCONNECTOR_IMAGE"); c.Image != "r.example/sc@"+digest || img != "r.example/proxy:2" {
		t.Errorf("image %s, SESSIONCONNECTOR_IMAGE %s", c.Image, img)
	}
}

// TestHelmServerDryRun: what the chart renders, with default and with custom values, is
// accepted by a real API server, and the manager's pod passes restricted Pod Security.
func TestHelmServerDryRun(t *testing.T) {
	c := apiClient(t)
	ctx := context.Background()
	// The Prometheus Operator is not ours to test: an open schema is enough to admit the object.
	minimalCRD(ctx, t, c, "monitoring.coreos.com", "ServiceMonitor", "servicemonitors")
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	for name, tc := range map[string]struct {
		namespace, values, deployment string
	}{
		"defaults":        {"helm-defaults", "", "sc-session-connector"},
		"custom":          {"helm-custom", customValues, "connector"},
		"crds, no keep":   {"helm-crds-nokeep", "crds: {keep: false}\nwatchNamespaces: [helm-custom]", "sc-session-connector"},
		"serviceMonitor":  {"helm-monitor", "metrics: {serviceMonitor: {enabled: true, labels: {release: kube-prometheus}}}", "sc-session-connector"},
		"existing SA":     {"helm-sa", "serviceAccount: {create: false, name: default}", "sc-session-connector"},
		"image by digest": {"helm-digest", "image: {repository: r.example/sc, digest: 'sha256:" + strings.Repeat("0", 64) + "'}", "sc-session-connector"},
	} {
		t.Run(name, func(t *testing.T) {
			ensureNamespace(ctx, t, c, tc.namespace, restricted)
			objs := mustTemplate(t, tc.namespace, values(t, tc.values))
			serverDryRun(ctx, t, c, objs)
			dryRunPodOf(ctx, t, c, one(t, objs, "Deployment", tc.deployment))
		})
	}
}
