package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	storekube "github.com/sessionconnector/sessionconnector/sessionstore/kube"
)

// DefaultSessionRetention is how long ended Sessions are kept.
const DefaultSessionRetention = 24 * time.Hour

// SessionReconciler runs the Session lifecycle the proxies cannot: it expires tickets nobody
// used, ends sessions whose proxy pod is gone (reason ProxyLost) and deletes ended sessions once
// the retention has passed.
//
// Status changes go through sessionstore/kube, which reads from the API server and writes with
// the resourceVersion it read: a proxy claiming a ticket at the same moment as the expiry wins
// or loses cleanly, never both.
type SessionReconciler struct {
	// Client is the manager's (cached reads).
	Client client.Client
	// Direct reads from and writes to the API server (no cache); the session store uses it.
	Direct client.Client
	// Recorder emits events; nil emits none.
	Recorder events.EventRecorder
	// Retention is how long a Session stays after it ended (status.endedAt, else its creation).
	// DefaultSessionRetention when zero.
	Retention time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// errUnchanged aborts a status update whose premise no longer holds.
var errUnchanged = errors.New("session changed meanwhile")

func (r *SessionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *SessionReconciler) event(s *v1alpha1.Session, typ, reason, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, typ, reason, eventActionLifecycle, note, args...)
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *SessionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := &v1alpha1.Session{}
	if err := r.Client.Get(ctx, req.NamespacedName, s); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get Session: %w", err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := r.now()
	switch phase := s.EffectivePhase(); {
	case phase == v1alpha1.SessionIssued:
		if now.Before(s.Spec.ExpiresAt.Time) {
			return requeueAfter(s.Spec.ExpiresAt.Sub(now)), nil
		}
		return r.expire(ctx, s)
	case phase == v1alpha1.SessionConnecting || phase == v1alpha1.SessionActive:
		return r.checkProxy(ctx, s)
	case phase.IsFinal():
		return r.sweep(ctx, s, now)
	}
	return ctrl.Result{}, nil
}

// requeueAfter requeues after d, at least a second.
func requeueAfter(d time.Duration) ctrl.Result {
	if d < time.Second {
		d = time.Second
	}
	return ctrl.Result{RequeueAfter: d}
}

func (r *SessionReconciler) store(s *v1alpha1.Session) *storekube.Store {
	return storekube.New(r.Direct, s.Namespace, storekube.Options{Now: r.Now})
}

func (r *SessionReconciler) retention() time.Duration {
	return orDefault(r.Retention, DefaultSessionRetention)
}

// expire turns an unused ticket past its expiry into an Expired session.
func (r *SessionReconciler) expire(ctx context.Context, s *v1alpha1.Session) (ctrl.Result, error) {
	updated, err := r.store(s).UpdateStatus(ctx, s.Name, func(st *v1alpha1.SessionStatus) error {
		now := r.now()
		if (st.Phase != "" && st.Phase != v1alpha1.SessionIssued) || now.Before(s.Spec.ExpiresAt.Time) {
			return errUnchanged
		}
		st.Phase = v1alpha1.SessionExpired
		st.Reason = v1alpha1.ReasonTicketExpired
		st.Message = "the ticket was not used before it expired"
		st.EndedAt = &metav1.Time{Time: now}
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged), errors.Is(err, sessionstore.ErrNotFound):
		return ctrl.Result{}, nil // the watch brings the new state
	case err != nil:
		return ctrl.Result{}, err
	}
	r.event(updated, corev1.EventTypeNormal, reasonSessionExpired, "The ticket expired unused at %s", s.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	return requeueAfter(r.retention()), nil
}

// checkProxy ends a Connecting or Active session whose proxy pod no longer exists.
func (r *SessionReconciler) checkProxy(ctx context.Context, s *v1alpha1.Session) (ctrl.Result, error) {
	pod := s.Status.ProxyName
	if pod == "" {
		return ctrl.Result{}, nil
	}
	exists, err := r.podExists(ctx, s.Namespace, pod)
	if err != nil || exists {
		return ctrl.Result{}, err
	}
	phase := s.EffectivePhase()
	updated, err := r.store(s).UpdateStatus(ctx, s.Name, func(st *v1alpha1.SessionStatus) error {
		if st.Phase != phase || st.ProxyName != pod {
			return errUnchanged
		}
		st.Phase = v1alpha1.SessionEnded
		st.Reason = v1alpha1.ReasonProxyLost
		st.Message = fmt.Sprintf("the proxy pod %s that held the session no longer exists", pod)
		st.EndedAt = &metav1.Time{Time: r.now()}
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged), errors.Is(err, sessionstore.ErrNotFound):
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	r.event(updated, corev1.EventTypeWarning, reasonSessionProxyLost, "Ended: the proxy pod %s that held the session no longer exists", pod)
	return requeueAfter(r.retention()), nil
}

// podExists looks in the cache of proxy pods first and confirms an absence with the API server
// (a pod without the proxy labels, or one the cache has not seen yet, still counts).
func (r *SessionReconciler) podExists(ctx context.Context, namespace, name string) (bool, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	pod := &metav1.PartialObjectMetadata{}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	if err := r.Client.Get(ctx, key, pod); err == nil {
		return true, nil
	} else if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("get pod %s: %w", name, err)
	}
	if err := r.Direct.Get(ctx, key, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get pod %s: %w", name, err)
	}
	return true, nil
}

// sweep deletes an ended session whose retention has passed.
func (r *SessionReconciler) sweep(ctx context.Context, s *v1alpha1.Session, now time.Time) (ctrl.Result, error) {
	ended := s.CreationTimestamp.Time
	if s.Status.EndedAt != nil {
		ended = s.Status.EndedAt.Time
	}
	deadline := ended.Add(r.retention())
	if now.Before(deadline) {
		return requeueAfter(deadline.Sub(now)), nil
	}
	uid, rv := s.UID, s.ResourceVersion
	if err := r.Direct.Delete(ctx, s, client.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return ctrl.Result{}, nil // gone, or changed: the watch brings it back if it still matters
		}
		return ctrl.Result{}, fmt.Errorf("delete session: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(1).Info("deleted an ended session after the retention", "phase", s.Status.Phase, "endedAt", ended)
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler with mgr. The field indexes of Setup must exist.
func (r *SessionReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	onlyDeletes := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Session{}).
		// A proxy pod going away ends the sessions it held.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.sessionsForPod),
			builder.OnlyMetadata, builder.WithPredicates(onlyDeletes)).
		WithOptions(opts).
		Named("session").
		Complete(r)
}

func (r *SessionReconciler) sessionsForPod(ctx context.Context, obj client.Object) []reconcile.Request {
	return requestsFor(ctx, r.Client, &v1alpha1.SessionList{}, indexSessionProxy, obj)
}

// sessionProxyIndex indexes the sessions a proxy pod holds.
func sessionProxyIndex(obj client.Object) []string {
	s, ok := obj.(*v1alpha1.Session)
	if !ok || s.Status.ProxyName == "" {
		return nil
	}
	if p := s.EffectivePhase(); p != v1alpha1.SessionConnecting && p != v1alpha1.SessionActive {
		return nil
	}
	return []string{s.Status.ProxyName}
}
