package controllers

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

// TestSamplesCreateEveryChild applies config/samples as a platform team would and checks that
// the operator builds the front door from them.
func TestSamplesCreateEveryChild(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	root, err := kubeenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, c)
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("samples: %v %v", files, err)
	}
	var clusterName string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetNamespace(ns)
			if u.GetKind() == "RDSCluster" {
				clusterName = u.GetName()
			}
			if err := c.Create(ctx, &u); err != nil {
				t.Fatalf("create %s %s from %s: %v", u.GetKind(), u.GetName(), filepath.Base(f), err)
			}
		}
	}
	if clusterName == "" {
		t.Fatal("the samples have no RDSCluster")
	}
	objs := []struct {
		name string
		obj  client.Object
	}{
		{clusterName + "-proxy", &appsv1.Deployment{}},
		{clusterName + "-proxy", &corev1.Service{}},
		{clusterName + "-proxy", &corev1.ConfigMap{}},
		{clusterName + "-proxy", &corev1.ServiceAccount{}},
		{clusterName + "-proxy", &rbacv1.Role{}},
		{clusterName + "-proxy", &rbacv1.RoleBinding{}},
		{clusterName + "-proxy", &policyv1.PodDisruptionBudget{}},
		{clusterName + "-proxy-tls", &corev1.Secret{}},
	}
	for _, o := range objs {
		eventually(t, waitFor, "child "+o.name, func() error {
			return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.name}, o.obj)
		})
	}
	var cluster v1alpha1.RDSCluster
	get(t, c, ns, clusterName, &cluster)
	for _, o := range objs {
		checkOwner(t, o.obj, &cluster)
	}
	svc := objs[1].obj.(*corev1.Service)
	if svc.Spec.Ports[0].Port != 3389 {
		t.Fatalf("Service ports %+v", svc.Spec.Ports)
	}
}
