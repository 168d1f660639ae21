package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Main(m, &env)) }

func cluster(name, url string) *v1alpha1.RDSCluster {
	return &v1alpha1.RDSCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1alpha1.RDSClusterSpec{SecretServer: v1alpha1.SecretServerSpec{
			URL: url, ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: "app"}}},
	}
}

func TestRDSClusterDefaultsAndValidation(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	ctx, c := context.Background(), env.Client(t)
	good := cluster("good", "https://vault.example.com/SecretServer")
	if err := c.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	if good.Spec.SessionTimeoutSeconds != 900 || good.Spec.AllowConnectionSharing || good.Spec.ExternalPort != 3389 ||
		good.Spec.Proxy.Replicas == nil || *good.Spec.Proxy.Replicas != 2 || good.Spec.Proxy.Service.Type != "LoadBalancer" {
		t.Fatalf("defaults not applied: %+v", good.Spec)
	}
	for name, tc := range map[string]struct {
		mutate func(*v1alpha1.RDSCluster)
		want   string
	}{
		"http url":          {func(r *v1alpha1.RDSCluster) { r.Spec.SecretServer.URL = "http://vault.example.com" }, "spec.secretServer.url"},
		"no url":            {func(r *v1alpha1.RDSCluster) { r.Spec.SecretServer.URL = "" }, "spec.secretServer.url"},
		"port out of range": {func(r *v1alpha1.RDSCluster) { r.Spec.ExternalPort = 70000 }, "spec.externalPort"},
		"bad service type":  {func(r *v1alpha1.RDSCluster) { r.Spec.Proxy.Service.Type = "ExternalName" }, "spec.proxy.service.type"},
		"http player url": {func(r *v1alpha1.RDSCluster) {
			r.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "https://s3.example.com", Bucket: "rec",
				CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}, PlayerURL: "http://connector.example.com"}
		}, "spec.recordingStorage.playerURL"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cluster("bad-"+strings.ReplaceAll(name, " ", "-"), "https://vault.example.com")
			tc.mutate(r)
			err := c.Create(ctx, r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestSessionLauncherValidation(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	ctx, c := context.Background(), env.Client(t)
	launcher := func(name string) *v1alpha1.SessionLauncher {
		return &v1alpha1.SessionLauncher{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1alpha1.SessionLauncherSpec{ClusterRef: "good",
				Templates: []v1alpha1.TemplateReference{{Name: "Windows Account"}, {ID: 6001}}},
		}
	}
	good := launcher("good")
	if err := c.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	if !good.Spec.IsActive() || good.Spec.Type != v1alpha1.LauncherRemoteDesktop {
		t.Fatalf("defaults not applied: %+v", good.Spec)
	}
	for name, tc := range map[string]struct {
		mutate func(*v1alpha1.SessionLauncher)
		want   string
	}{
		"template with name and id": {func(l *v1alpha1.SessionLauncher) {
			l.Spec.Templates = []v1alpha1.TemplateReference{{Name: "x", ID: 1}}
		}, "exactly one of name and id"},
		"no templates":           {func(l *v1alpha1.SessionLauncher) { l.Spec.Templates = nil }, "spec.templates"},
		"custom without program": {func(l *v1alpha1.SessionLauncher) { l.Spec.Type = v1alpha1.LauncherCustomProgram }, "needs customProgram"},
		"unknown type":           {func(l *v1alpha1.SessionLauncher) { l.Spec.Type = "Telnet" }, "spec.type"},
	} {
		t.Run(name, func(t *testing.T) {
			l := launcher("bad-" + strings.ReplaceAll(name, " ", "-"))
			tc.mutate(l)
			err := c.Create(ctx, l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: %v, want an error about %s", err, tc.want)
			}
		})
	}
}
