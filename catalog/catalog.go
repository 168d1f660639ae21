// Package catalog is how the launch API and the proxy find launchers, clusters and the
// application account of a cluster: from manifest files in standalone mode, from the API server
// in a cluster.
package catalog

import (
	"context"
	"errors"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/secretserver"
)

// ErrNotFound is returned for a name the catalog does not know.
var ErrNotFound = errors.New("not found")

// Catalog finds launchers and clusters by name.
type Catalog interface {
	Launcher(ctx context.Context, name string) (*v1alpha1.SessionLauncher, error)
	Cluster(ctx context.Context, name string) (*v1alpha1.RDSCluster, error)
	// ApplicationAccount reads the cluster's Secret Server application account.
	ApplicationAccount(ctx context.Context, cluster *v1alpha1.RDSCluster) (secretserver.Credentials, error)
}

// RecordingAccount is implemented by catalogs that can read the credentials of a cluster's
// recording storage (the Secret named by spec.recordingStorage.credentialsSecretRef, keys
// accessKeyId and secretAccessKey).
type RecordingAccount interface {
	RecordingCredentials(ctx context.Context, cluster *v1alpha1.RDSCluster) (accessKeyID, secretAccessKey string, err error)
}

// ClusterLister is implemented by catalogs that can list their RDSClusters (standalone mode's
// manifests); a proxy that serves every cluster uses it to recover their spooled recordings at
// start.
type ClusterLister interface {
	ClusterNames(ctx context.Context) ([]string, error)
}
