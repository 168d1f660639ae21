package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// EventSource is the reporting controller of the operator's events.
const EventSource = "sessionconnector-operator"

// Field indexes the reconcilers look things up by.
const (
	indexSessionCluster  = "spec.clusterRef"
	indexSessionProxy    = "status.proxyName"
	indexLauncherCluster = "spec.clusterRef"
	indexClusterSecret   = "spec.secretRefs"
)

// Options configure Setup.
type Options struct {
	// ProxyImage is the proxy image of clusters without spec.proxy.image (required).
	ProxyImage string
	// SessionRetention is how long ended Sessions are kept; DefaultSessionRetention when zero.
	SessionRetention time.Duration
	// RefreshInterval, CheckTTL and CheckTimeout tune the RDSCluster reconciler (see there).
	RefreshInterval, CheckTTL, CheckTimeout time.Duration
	// MaxConcurrentReconciles per controller; 2 when zero.
	MaxConcurrentReconciles int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Setup registers the field indexes and the three reconcilers with mgr. mgr's cache should be
// built with CacheOptions.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.ProxyImage == "" {
		return errors.New("controllers: a default proxy image is required")
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 2
	}
	idx := mgr.GetFieldIndexer()
	for _, i := range []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&v1alpha1.Session{}, indexSessionCluster, func(o client.Object) []string { return []string{o.(*v1alpha1.Session).Spec.ClusterRef} }},
		{&v1alpha1.Session{}, indexSessionProxy, sessionProxyIndex},
		{&v1alpha1.SessionLauncher{}, indexLauncherCluster, func(o client.Object) []string {
			return []string{o.(*v1alpha1.SessionLauncher).Spec.ClusterRef}
		}},
		{&v1alpha1.RDSCluster{}, indexClusterSecret, clusterSecretNames},
	} {
		if err := idx.IndexField(ctx, i.obj, i.field, i.fn); err != nil {
			return fmt.Errorf("index %T by %s: %w", i.obj, i.field, err)
		}
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("direct client: %w", err)
	}
	recorder := mgr.GetEventRecorder(EventSource)
	copts := controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}
	if err := (&RDSClusterReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
		ProxyImage: opts.ProxyImage, RefreshInterval: opts.RefreshInterval,
		CheckTTL: opts.CheckTTL, CheckTimeout: opts.CheckTimeout, Now: opts.Now,
	}).SetupWithManager(mgr, copts); err != nil {
		return fmt.Errorf("RDSCluster controller: %w", err)
	}
	if err := (&SessionLauncherReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr, copts); err != nil {
		return fmt.Errorf("SessionLauncher controller: %w", err)
	}
	if err := (&SessionReconciler{
		Client: mgr.GetClient(), Direct: direct, Recorder: recorder,
		Retention: opts.SessionRetention, Now: opts.Now,
	}).SetupWithManager(mgr, copts); err != nil {
		return fmt.Errorf("Session controller: %w", err)
	}
	return nil
}

// CacheOptions is the manager's cache: the given namespaces (all when empty), only the children
// the operator manages (by label) and only proxy pods, without managed fields.
func CacheOptions(namespaces []string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	opts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ServiceAccount{}:        {Label: managed},
			&corev1.ConfigMap{}:             {Label: managed},
			&corev1.Service{}:               {Label: managed},
			&rbacv1.Role{}:                  {Label: managed},
			&rbacv1.RoleBinding{}:           {Label: managed},
			&appsv1.Deployment{}:            {Label: managed},
			&appsv1.DaemonSet{}:             {Label: managed},
			&policyv1.PodDisruptionBudget{}: {Label: managed},
			&corev1.Pod{}:                   {Label: labels.SelectorFromSet(labels.Set{LabelName: ProxyName})},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// requestsFor lists, in obj's namespace, the objects of list's kind whose field index matches
// obj's name, as reconcile requests: how a change of one object (a Secret, a cluster, a pod)
// reaches the objects that use it.
func requestsFor(ctx context.Context, c client.Reader, list client.ObjectList, index string, obj client.Object) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list the objects that use a changed one", "index", index, "name", obj.GetName())
		return nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "read a list", "index", index)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, item := range items {
		if o, ok := item.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
		}
	}
	return reqs
}
