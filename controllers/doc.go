// Package controllers holds the operator's reconcilers:
//
//   - RDSClusterReconciler turns an RDSCluster into the proxy's ServiceAccount, Role and
//     RoleBinding, ConfigMap, Deployment, Service, PodDisruptionBudget, a self-signed TLS Secret
//     when the cluster names none, and the RDS-node agent DaemonSet when agents are enabled. The
//     children are written with server-side apply under the field owner FieldOwner (force), so
//     hand edits of fields the operator sets are undone on the next reconcile, and carry a
//     controller owner reference, so the garbage collector removes them with the cluster (no
//     finalizer is needed). Its status reports the proxy's availability, Secret Server
//     reachability with the application account, the recording bucket and the agents.
//   - SessionLauncherReconciler checks a launcher (cluster, templates, host patterns) and sets Ready.
//   - SessionReconciler expires unused tickets, ends sessions whose proxy pod is gone and deletes
//     ended sessions after a retention period.
//
// Setup wires all three into a manager; CacheOptions configures its cache.
package controllers

// The operator's permissions, generated into config/rbac/role.yaml (ClusterRole manager-role) by
// `make manifests`. It needs every permission it grants to the proxies' Role (Kubernetes refuses
// to let it grant more than it holds). Leader election (leases) and the metrics endpoint's
// token and access reviews are separate roles in config/rbac.
//
// +kubebuilder:rbac:groups=sessionconnector.io,resources=rdsclusters;sessionlaunchers,verbs=get;list;watch
// +kubebuilder:rbac:groups=sessionconnector.io,resources=rdsclusters/status;sessionlaunchers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sessionconnector.io,resources=rdsclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=sessionconnector.io,resources=sessions,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=sessionconnector.io,resources=sessions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
