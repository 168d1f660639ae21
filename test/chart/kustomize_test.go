package chart

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeBuild renders a kustomization as `kustomize build DIR` (or `kubectl kustomize`) does.
func kustomizeBuild(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	// Through YAML, so numbers come out as unstructured wants them (int64, float64).
	data, err := resMap.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := decodeYAML(data)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return objs
}

const systemNamespace = "sessionconnector-system"

func TestKustomizeDefault(t *testing.T) {
	objs := kustomizeBuild(t, repoPath(t, "config", "default"))

	ns := one(t, objs, "Namespace", systemNamespace)
	if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v: want restricted Pod Security", ns.GetLabels())
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			if o.GetNamespace() != "" {
				t.Errorf("cluster-scoped %s has a namespace", describe(o))
			}
		default:
			if o.GetNamespace() != systemNamespace {
				t.Errorf("%s: want namespace %s", describe(o), systemNamespace)
			}
		}
	}

	d, c := managerContainer(t, objs, "sessionconnector-controller-manager")
	checkHardened(t, d, c)
	if want := []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8443"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if img, _ := envValue(c, "SESSIONCONNECTOR_IMAGE"); img != c.Image || c.Image == "sessionconnector" {
		t.Errorf("image %q, SESSIONCONNECTOR_IMAGE %q: want the images: entry in both", c.Image, img)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	one(t, objs, "ServiceAccount", sa)

	// The CRDs are config/crd/bases, with the kustomization's labels.
	crds := byKind(objs, "CustomResourceDefinition")
	bases := kustomizeBuild(t, repoPath(t, "config", "crd"))
	if len(crds) != len(bases) || len(bases) != 3 {
		t.Errorf("%d CRDs installed, %d in config/crd", len(crds), len(bases))
	}
	for _, want := range bases {
		got := one(t, crds, "CustomResourceDefinition", want.GetName()).DeepCopy()
		got.SetLabels(nil)
		if !equality.Semantic.DeepEqual(got.Object, want.Object) {
			t.Errorf("CRD %s differs from config/crd/bases", want.GetName())
		}
	}

	// The manager's ClusterRole is role.yaml, bound to the manager's ServiceAccount; so are the
	// leader-election Role and the metrics auth ClusterRole.
	role := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole", "sessionconnector-manager-role"))
	if !equality.Semantic.DeepEqual(role.Rules, managerRules(t)) {
		t.Error("ClusterRole rules differ from config/rbac/role.yaml")
	}
	for kind, bindings := range map[string][]string{
		"ClusterRoleBinding": {"sessionconnector-manager-rolebinding", "sessionconnector-metrics-auth-rolebinding"},
		"RoleBinding":        {"sessionconnector-leader-election-rolebinding"},
	} {
		for _, name := range bindings {
			b := one(t, objs, kind, name)
			subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
			roleName, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
			want := map[string]any{"kind": "ServiceAccount", "name": sa, "namespace": systemNamespace}
			if len(subjects) != 1 || !equality.Semantic.DeepEqual(subjects[0], want) {
				t.Errorf("%s %s subjects %v, want %v", kind, name, subjects, want)
			}
			roleKind := "ClusterRole"
			if kind == "RoleBinding" {
				roleKind = "Role"
			}
			one(t, objs, roleKind, roleName)
		}
	}
	one(t, objs, "Service", "sessionconnector-controller-manager-metrics-service")

	t.Run("server dry run", func(t *testing.T) {
		c := apiClient(t)
		ctx := context.Background()
		serverDryRun(ctx, t, c, objs)
		dryRunPodOf(ctx, t, c, one(t, objs, "Deployment", "sessionconnector-controller-manager"))
	})
}

func TestKustomizeSamples(t *testing.T) {
	objs := kustomizeBuild(t, repoPath(t, "config", "samples"))
	for kind, n := range map[string]int{"RDSCluster": 1, "SessionLauncher": 1, "Secret": 2} {
		if got := len(byKind(objs, kind)); got != n {
			t.Errorf("%d %s samples, want %d", got, kind, n)
		}
	}
	launcher := one(t, objs, "SessionLauncher", "")
	templates, _, _ := unstructured.NestedSlice(launcher.Object, "spec", "templates")
	wantTemplates := []any{map[string]any{"name": "Windows Account"}, map[string]any{"name": "Active Directory Account"}}
	if !equality.Semantic.DeepEqual(templates, wantTemplates) {
		t.Errorf("launcher templates %v, want %v", templates, wantTemplates)
	}
	if hosts, _, _ := unstructured.NestedStringSlice(launcher.Object, "spec", "allowedHosts"); len(hosts) == 0 {
		t.Error("launcher sample has no allowedHosts")
	}
	cluster := one(t, objs, "RDSCluster", "")
	if ref, _, _ := unstructured.NestedString(launcher.Object, "spec", "clusterRef"); ref != cluster.GetName() {
		t.Errorf("launcher clusterRef %q, cluster %q", ref, cluster.GetName())
	}
	secretName, _, _ := unstructured.NestedString(cluster.Object, "spec", "secretServer", "applicationAccountSecretRef", "name")
	one(t, objs, "Secret", secretName)

	t.Run("server dry run", func(t *testing.T) {
		c := apiClient(t)
		ctx := context.Background()
		for _, o := range objs {
			o.SetNamespace("samples")
		}
		serverDryRun(ctx, t, c, objs)
	})
}
