package controllers

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/hostmatch"
)

// SessionLauncherReconciler checks SessionLaunchers and reports the result in their Ready condition.
type SessionLauncherReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// Reconcile implements reconcile.Reconciler.
func (r *SessionLauncherReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	l := &v1alpha1.SessionLauncher{}
	if err := r.Client.Get(ctx, req.NamespacedName, l); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get SessionLauncher: %w", err)
	}
	if !l.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := l.DeepCopy()
	var result checkResult
	defer func() {
		if retErr != nil {
			result = failed(ReasonReconcileFailed, "%v", retErr)
		} else {
			l.Status.ObservedGeneration = l.Generation
		}
		meta.SetStatusCondition(&l.Status.Conditions, result.condition(v1alpha1.ConditionReady, l.Generation))
		if err := r.Client.Status().Patch(ctx, l, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patch status: %w", err))
			return
		}
		old := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionReady)
		if r.Recorder != nil && (old == nil || old.Status != result.status || old.Reason != result.reason) {
			typ := "Normal"
			if result.status != metav1.ConditionTrue {
				typ = "Warning"
			}
			r.Recorder.Eventf(l, nil, typ, result.reason, v1alpha1.ConditionReady, "Ready is %s: %s", result.status, result.message)
		}
	}()
	var err error
	result, err = r.check(ctx, l)
	return ctrl.Result{}, err
}

// check validates a launcher; an error is a failure to read, not an invalid launcher.
func (r *SessionLauncherReconciler) check(ctx context.Context, l *v1alpha1.SessionLauncher) (checkResult, error) {
	spec := &l.Spec
	if len(spec.Templates) == 0 {
		return failed(ReasonNoTemplates, "spec.templates is empty: the launcher serves no secret template"), nil
	}
	for i, t := range spec.Templates {
		if (t.Name == "") == (t.ID == 0) {
			return failed(ReasonInvalidTemplate, "spec.templates[%d] must set exactly one of name and id", i), nil
		}
	}
	for i, p := range spec.AllowedHosts {
		if err := hostmatch.Validate(p); err != nil {
			return failed(ReasonInvalidAllowedHost, "spec.allowedHosts[%d] %q: %v", i, p, err), nil
		}
	}
	if spec.Type == v1alpha1.LauncherCustomProgram && (spec.CustomProgram == nil || spec.CustomProgram.Path == "") {
		return failed(ReasonCustomProgramMissing, "a CustomProgram launcher needs spec.customProgram.path"), nil
	}
	var cluster v1alpha1.RDSCluster
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: spec.ClusterRef}, &cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return failed(ReasonClusterNotFound, "RDSCluster %q does not exist in namespace %s", spec.ClusterRef, l.Namespace), nil
		}
		return checkResult{}, fmt.Errorf("get RDSCluster %s: %w", spec.ClusterRef, err)
	}
	if (spec.Type == v1alpha1.LauncherPuTTY || spec.Type == v1alpha1.LauncherCustomProgram) && !cluster.Spec.Agents.Enabled {
		return failed(ReasonAgentsNotEnabled, "a %s launcher runs on an RDS node, but RDSCluster %q has spec.agents.enabled false", spec.Type, cluster.Name), nil
	}
	return passed(ReasonLauncherValid, "served by RDSCluster %q", cluster.Name), nil
}

// SetupWithManager registers the reconciler with mgr. The field indexes of Setup must exist.
func (r *SessionLauncherReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.SessionLauncher{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A cluster appearing, going or changing spec.agents changes its launchers' Ready.
		Watches(&v1alpha1.RDSCluster{}, handler.EnqueueRequestsFromMapFunc(r.launchersForCluster),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Named("sessionlauncher").
		Complete(r)
}

func (r *SessionLauncherReconciler) launchersForCluster(ctx context.Context, obj client.Object) []reconcile.Request {
	return requestsFor(ctx, r.Client, &v1alpha1.SessionLauncherList{}, indexLauncherCluster, obj)
}
