package kube

import (
	"context"
	"errors"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Main(m, &env)) }

func TestCatalogReadsTheNamespace(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	ctx, c := context.Background(), env.Client(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "catalog-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cluster := &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: ns.Name},
		Spec: v1alpha1.RDSClusterSpec{SecretServer: v1alpha1.SecretServerSpec{URL: "https://vault.example.com",
			ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: "app"}}}}
	launcher := &v1alpha1.SessionLauncher{ObjectMeta: metav1.ObjectMeta{Name: "rdp", Namespace: ns.Name},
		Spec: v1alpha1.SessionLauncherSpec{ClusterRef: "front", Templates: []v1alpha1.TemplateReference{{ID: 6003}}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns.Name},
		StringData: map[string]string{"username": "connector", "password": "App-Pass-1"}}
	if err := c.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, launcher); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	cat := &Catalog{Client: c, Namespace: ns.Name}
	got, err := cat.Cluster(ctx, "front")
	if err != nil || got.Spec.SecretServer.URL != "https://vault.example.com" {
		t.Fatalf("cluster %+v, %v", got, err)
	}
	if names, err := cat.ClusterNames(ctx); err != nil || len(names) != 1 || names[0] != "front" {
		t.Fatalf("cluster names %v, %v", names, err)
	}
	if l, err := cat.Launcher(ctx, "rdp"); err != nil || l.Spec.ClusterRef != "front" {
		t.Fatalf("launcher %+v, %v", l, err)
	}
	cred, err := cat.ApplicationAccount(ctx, got)
	if err != nil || cred.Username != "connector" || cred.Password != "App-Pass-1" {
		t.Fatalf("account %v, %v", cred, err)
	}
	if _, err := cat.Launcher(ctx, "missing"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing launcher: %v", err)
	}
	got.Spec.SecretServer.ApplicationAccountSecretRef.Name = "missing"
	if _, err := cat.ApplicationAccount(ctx, got); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
}
