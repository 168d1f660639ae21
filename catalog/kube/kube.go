// Package kube is the catalog of a cluster: RDSClusters, SessionLaunchers and the application
// account Secret read from the API server in one namespace.
package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/secretserver"
)

// Catalog reads from one namespace. A cached client (a manager's) keeps reads cheap; a direct
// client works too.
type Catalog struct {
	Client    client.Reader
	Namespace string
}

var (
	_ catalog.Catalog       = (*Catalog)(nil)
	_ catalog.ClusterLister = (*Catalog)(nil)
)

func (c *Catalog) get(ctx context.Context, name string, obj client.Object, kind string) error {
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s/%s: %w", kind, c.Namespace, name, catalog.ErrNotFound)
		}
		return fmt.Errorf("get %s %s/%s: %w", kind, c.Namespace, name, err)
	}
	return nil
}

// Launcher implements catalog.Catalog.
func (c *Catalog) Launcher(ctx context.Context, name string) (*v1alpha1.SessionLauncher, error) {
	var l v1alpha1.SessionLauncher
	if err := c.get(ctx, name, &l, "SessionLauncher"); err != nil {
		return nil, err
	}
	return &l, nil
}

// Cluster implements catalog.Catalog.
func (c *Catalog) Cluster(ctx context.Context, name string) (*v1alpha1.RDSCluster, error) {
	var r v1alpha1.RDSCluster
	if err := c.get(ctx, name, &r, "RDSCluster"); err != nil {
		return nil, err
	}
	return &r, nil
}

// ClusterNames implements catalog.ClusterLister: the RDSClusters of the namespace.
func (c *Catalog) ClusterNames(ctx context.Context) ([]string, error) {
	var list v1alpha1.RDSClusterList
	if err := c.Client.List(ctx, &list, client.InNamespace(c.Namespace)); err != nil {
		return nil, fmt.Errorf("list RDSClusters in %s: %w", c.Namespace, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, cl := range list.Items {
		names = append(names, cl.Name)
	}
	return names, nil
}

// ApplicationAccount implements catalog.Catalog.
func (c *Catalog) ApplicationAccount(ctx context.Context, cluster *v1alpha1.RDSCluster) (secretserver.Credentials, error) {
	ref := cluster.Spec.SecretServer.ApplicationAccountSecretRef.Name
	var s corev1.Secret
	if err := c.get(ctx, ref, &s, "Secret"); err != nil {
		return secretserver.Credentials{}, err
	}
	cred := secretserver.Credentials{Username: string(s.Data["username"]), Password: string(s.Data["password"]), Domain: string(s.Data["domain"])}
	if cred.Username == "" || cred.Password == "" {
		return secretserver.Credentials{}, fmt.Errorf("application account Secret %s/%s needs the keys username and password", c.Namespace, ref)
	}
	return cred, nil
}

// RecordingCredentials implements catalog.RecordingAccount.
func (c *Catalog) RecordingCredentials(ctx context.Context, cluster *v1alpha1.RDSCluster) (string, string, error) {
	rs := cluster.Spec.RecordingStorage
	if rs == nil {
		return "", "", fmt.Errorf("RDSCluster %s/%s has no recordingStorage", c.Namespace, cluster.Name)
	}
	var s corev1.Secret
	if err := c.get(ctx, rs.CredentialsSecretRef.Name, &s, "Secret"); err != nil {
		return "", "", err
	}
	access, secret := string(s.Data["accessKeyId"]), string(s.Data["secretAccessKey"])
	if access == "" || secret == "" {
		return "", "", fmt.Errorf("recording credentials Secret %s/%s needs the keys accessKeyId and secretAccessKey", c.Namespace, rs.CredentialsSecretRef.Name)
	}
	return access, secret, nil
}
