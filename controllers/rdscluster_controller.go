package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// Defaults of RDSClusterReconciler.
const (
	DefaultRefreshInterval = 60 * time.Second
	DefaultCheckTTL        = 30 * time.Second
	DefaultCheckTimeout    = 10 * time.Second
)

// RDSClusterReconciler reconciles RDSClusters into the proxy's objects and reports their health.
type RDSClusterReconciler struct {
	// Client is the manager's (cached reads, writes to the API server).
	Client client.Client
	// APIReader reads from the API server; Secrets are read with it and never cached.
	APIReader client.Reader
	// Recorder emits events; nil emits none.
	Recorder events.EventRecorder
	// ProxyImage is the proxy image when spec.proxy.image is empty (the operator's own image).
	ProxyImage string
	// RefreshInterval is how often a cluster is reconciled without a change, to refresh the
	// external checks and counts. DefaultRefreshInterval when zero.
	RefreshInterval time.Duration
	// CheckTTL is how long an external check's result is reused while its inputs are unchanged.
	// DefaultCheckTTL when zero.
	CheckTTL time.Duration
	// CheckTimeout bounds each external check. DefaultCheckTimeout when zero.
	CheckTimeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	checks checkCache
}

// reasonError is a reconcile failure with the Reason the Ready condition shows.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

// clusterScope is one reconcile of one cluster.
type clusterScope struct {
	cluster *v1alpha1.RDSCluster
	reader  client.Reader
	// secrets memoises the Secrets read in this reconcile; a nil value is a Secret that does not exist.
	secrets map[string]*corev1.Secret
}

// secret reads a Secret of the cluster's namespace once per reconcile; nil when it does not exist.
func (s *clusterScope) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	sec := &corev1.Secret{}
	if err := s.reader.Get(ctx, client.ObjectKey{Namespace: s.cluster.Namespace, Name: name}, sec); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read Secret %s: %w", name, err)
		}
		sec = nil
	}
	s.secrets[name] = sec
	return sec, nil
}

func (s *clusterScope) remember(sec *corev1.Secret) { s.secrets[sec.Name] = sec }

func (r *RDSClusterReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (r *RDSClusterReconciler) event(obj runtime.Object, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, typ, reason, action, note, args...)
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *RDSClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	// Read from the API server, not the cache: a reconcile that follows its predecessor's status
	// patch within milliseconds then sees that patch, so condition events are not repeated.
	cluster := &v1alpha1.RDSCluster{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			r.checks.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get RDSCluster: %w", err)
	}
	if !cluster.DeletionTimestamp.IsZero() {
		// The children carry owner references: the garbage collector deletes them. No finalizer.
		return ctrl.Result{}, nil
	}
	scope := &clusterScope{cluster: cluster, reader: r.APIReader, secrets: map[string]*corev1.Secret{}}
	before := cluster.DeepCopy()
	defer func() {
		r.updateStatus(ctx, scope, retErr)
		if err := r.Client.Status().Patch(ctx, cluster, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patch status: %w", err))
		}
		r.conditionEvents(before, cluster)
	}()
	if err := r.reconcileNormal(ctx, scope); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: orDefault(r.RefreshInterval, DefaultRefreshInterval)}, nil
}

// reconcileNormal writes the cluster's children.
func (r *RDSClusterReconciler) reconcileNormal(ctx context.Context, s *clusterScope) error {
	c := s.cluster
	if err := validateClusterName(c); err != nil {
		return reconcile.TerminalError(&reasonError{reason: ReasonInvalidName, err: err})
	}
	image := c.Spec.Proxy.Image
	if image == "" {
		image = r.ProxyImage
	}
	if image == "" {
		return reconcile.TerminalError(&reasonError{reason: ReasonNoProxyImage,
			err: errors.New("spec.proxy.image is empty and the operator has no default proxy image (--proxy-image)")})
	}
	if err := r.ensureTLSSecret(ctx, s); err != nil {
		return err
	}
	configData, err := proxyConfigData(c)
	if err != nil {
		return err
	}
	sum, missingTLS, err := r.podChecksum(ctx, s, configData)
	if err != nil {
		return err
	}
	children := []child{
		{&corev1.ServiceAccount{}, "ServiceAccount", proxyName(c), buildServiceAccount(c)},
		{&rbacv1.Role{}, "Role", proxyName(c), buildRole(c)},
		{&rbacv1.RoleBinding{}, "RoleBinding", proxyName(c), buildRoleBinding(c)},
		{&corev1.ConfigMap{}, "ConfigMap", proxyName(c), buildConfigMap(c, configData)},
		{&appsv1.Deployment{}, "Deployment", proxyName(c), buildDeployment(c, image, sum)},
		{&corev1.Service{}, "Service", proxyName(c), buildService(c)},
		{&policyv1.PodDisruptionBudget{}, "PodDisruptionBudget", proxyName(c), buildPodDisruptionBudget(c)},
	}
	if c.Spec.Agents.Enabled {
		children = append(children, child{&appsv1.DaemonSet{}, "DaemonSet", agentName(c), buildAgentDaemonSet(c, image)})
	}
	for _, ch := range children {
		if err := r.apply(ctx, c, ch.current, ch.kind, ch.name, ch.apply); err != nil {
			return err
		}
	}
	if !c.Spec.Agents.Enabled {
		if err := r.deleteOwned(ctx, c, &appsv1.DaemonSet{}, "DaemonSet", agentName(c)); err != nil {
			return err
		}
	}
	if missingTLS != "" {
		return &reasonError{reason: ReasonTLSSecretMissing, err: fmt.Errorf(
			"the TLS Secret %q named by spec.proxy.tlsSecretRef does not exist; the proxy pods wait for it", missingTLS)}
	}
	return nil
}

// child is one object the cluster owns: an empty object of its kind (for the cache lookup), its
// kind and name (for events and errors) and its apply configuration.
type child struct {
	current client.Object
	kind    string
	name    string
	apply   runtime.ApplyConfiguration
}

// podChecksum digests the configuration and the Secrets the proxy pods use. It returns the name
// of the TLS Secret when that is missing.
func (r *RDSClusterReconciler) podChecksum(ctx context.Context, s *clusterScope, configData map[string]string) (string, string, error) {
	c := s.cluster
	secrets := map[string]map[string][]byte{}
	names := append([]string{tlsSecretName(c)}, proxySecretNames(c)...)
	missingTLS := ""
	for _, name := range names {
		sec, err := s.secret(ctx, name)
		if err != nil {
			return "", "", err
		}
		if sec == nil {
			if name == tlsSecretName(c) {
				missingTLS = name
			}
			continue
		}
		secrets[name] = sec.Data
	}
	return checksum(configData, secrets), missingTLS, nil
}

// apply writes one child with server-side apply, taking over fields others changed (drift is
// undone), and records an event when it created or changed the object.
func (r *RDSClusterReconciler) apply(ctx context.Context, c *v1alpha1.RDSCluster, current client.Object, kind, name string, ac runtime.ApplyConfiguration) error {
	existed := true
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, current); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get %s %s: %w", kind, name, err)
		}
		existed = false
	}
	if err := r.Client.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		r.event(c, corev1.EventTypeWarning, reasonApplyFailed, "Apply"+kind, "Could not apply %s %s: %v", kind, name, err)
		return fmt.Errorf("apply %s %s: %w", kind, name, err)
	}
	if !existed {
		r.event(c, corev1.EventTypeNormal, reasonChildCreated, "Create"+kind, "Created %s %s", kind, name)
		return nil
	}
	if changed(current, ac) {
		r.event(c, corev1.EventTypeNormal, reasonChildUpdated, "Update"+kind, "Updated %s %s", kind, name)
	}
	return nil
}

// changed compares the object before an apply (from the cache) with the apply's answer: the
// generation where the kind has one, else the resourceVersion.
func changed(before client.Object, applied runtime.ApplyConfiguration) bool {
	b, err := json.Marshal(applied)
	if err != nil {
		return false
	}
	var after metav1.PartialObjectMetadata
	if err := json.Unmarshal(b, &after); err != nil {
		return false
	}
	if before.GetGeneration() > 0 && after.Generation > 0 {
		return before.GetGeneration() != after.Generation
	}
	return before.GetResourceVersion() != after.ResourceVersion
}

// deleteOwned deletes a child the cluster no longer wants (e.g. the agents after spec.agents.enabled
// went false).
func (r *RDSClusterReconciler) deleteOwned(ctx context.Context, c *v1alpha1.RDSCluster, obj client.Object, kind, name string) error {
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	if !metav1.IsControlledBy(obj, c) {
		return nil
	}
	if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: ptrTo(obj.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", kind, name, err)
	}
	r.event(c, corev1.EventTypeNormal, reasonChildDeleted, "Delete"+kind, "Deleted %s %s", kind, name)
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// SetupWithManager registers the reconciler with mgr. The field indexes of Setup must exist.
func (r *RDSClusterReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.RDSCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&appsv1.DaemonSet{}).
		// Secrets only by metadata: a change of one the cluster names (or of its generated TLS
		// Secret) reconciles the cluster; the data is read from the API server when needed.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clustersForSecret), builder.OnlyMetadata).
		WithOptions(opts).
		Named("rdscluster").
		Complete(r)
}

// clustersForSecret maps a Secret to the clusters of its namespace that use it.
func (r *RDSClusterReconciler) clustersForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	return requestsFor(ctx, r.Client, &v1alpha1.RDSClusterList{}, indexClusterSecret, obj)
}

// clusterSecretNames indexes a cluster by every Secret it uses.
func clusterSecretNames(obj client.Object) []string {
	c, ok := obj.(*v1alpha1.RDSCluster)
	if !ok {
		return nil
	}
	return append([]string{tlsSecretName(c)}, proxySecretNames(c)...)
}
