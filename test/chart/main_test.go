package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Main(m, &env)) }

// fieldOwner names the test's server-side apply requests.
const fieldOwner = "sessionconnector-install-test"

// apiClient returns a client of the test API server, or skips the test when there is none
// (kubeenv.Main has already failed the run when SC_REQUIRE_PEERS=1).
func apiClient(t *testing.T) client.Client {
	t.Helper()
	if env == nil {
		t.Skip("no kube-apiserver/etcd binaries (run hack/envtest/build.sh)")
	}
	return env.Client(t)
}

// repoPath joins parts onto the repository root.
func repoPath(t testing.TB, parts ...string) string {
	t.Helper()
	root, err := kubeenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// decodeYAML splits a multi-document YAML stream into objects, skipping empty documents.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// readYAML reads the objects of a YAML file.
func readYAML(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeYAML(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs
}

// byKind returns the objects of one kind.
func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of a kind (and name, when given), failing otherwise.
func one(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range byKind(objs, kind) {
		if name == "" || o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

// typed converts an unstructured object into a typed one.
func typed[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// ensureNamespace creates a namespace (for real: dry-run objects need it to exist) with labels.
func ensureNamespace(ctx context.Context, t testing.TB, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// serverDryRun sends every object to the API server as a server-side apply with dryRun=All, as
// `kubectl apply --server-side --dry-run=server` does: admission, defaulting and validation
// (OpenAPI and CEL, unknown fields rejected) run; nothing is stored. Namespace objects are
// created for real first, and so is every namespace the objects name.
func serverDryRun(ctx context.Context, t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range byKind(objs, "Namespace") {
		ensureNamespace(ctx, t, c, o.GetName(), o.GetLabels())
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			ensureNamespace(ctx, t, c, ns, nil)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			continue
		}
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.DryRunAll, client.FieldOwner(fieldOwner), client.ForceOwnership)
		if err != nil {
			t.Errorf("server-side dry run of %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// dryRunPodOf creates (dry run) a Pod from a Deployment's template in the Deployment's
// namespace, so Pod Security admission judges the pod the Deployment would make.
func dryRunPodOf(ctx context.Context, t *testing.T, c client.Client, deploy *unstructured.Unstructured) {
	t.Helper()
	tmpl, ok, err := unstructured.NestedMap(deploy.Object, "spec", "template")
	if err != nil || !ok {
		t.Fatalf("deployment %s has no pod template: %v", deploy.GetName(), err)
	}
	pod := &unstructured.Unstructured{Object: tmpl}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetName(deploy.GetName() + "-pod-security-probe")
	pod.SetNamespace(deploy.GetNamespace())
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("dry-run pod of deployment %s: %v", deploy.GetName(), err)
	}
}

// minimalCRD installs a CRD with an open schema for a kind whose real CRD is not ours to test
// (e.g. the Prometheus Operator's ServiceMonitor), and waits until it is served.
func minimalCRD(ctx context.Context, t *testing.T, c client.Client, group, kind, plural string) {
	t.Helper()
	name := plural + "." + group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(crd.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKey{Name: name}, got); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not established: %v", name, err)
	}
	// And until the client's REST mapper finds the kind (discovery may lag a little).
	gk := schema.GroupKind{Group: group, Kind: kind}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, err := c.RESTMapper().RESTMapping(gk, "v1")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("kind %s not discoverable: %v", gk, err)
	}
}

// describe names an object for messages.
func describe(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}
