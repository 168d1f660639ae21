package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// updateStatus computes the cluster's status in place; reconcileErr is what reconcileNormal
// returned. observedGeneration moves only when the generation was fully handled (success, or a
// terminal error that no retry can change).
func (r *RDSClusterReconciler) updateStatus(ctx context.Context, s *clusterScope, reconcileErr error) {
	c := s.cluster
	log := ctrl.LoggerFrom(ctx)
	gen := c.Generation
	st := &c.Status

	proxy := r.proxyAvailable(ctx, c)
	meta.SetStatusCondition(&st.Conditions, proxy.condition(ConditionProxyAvailable, gen))
	meta.SetStatusCondition(&st.Conditions, r.secretServerCondition(ctx, s).condition(ConditionSecretServerReachable, gen))
	meta.SetStatusCondition(&st.Conditions, r.recordingStorageCondition(ctx, s).condition(ConditionRecordingStorageReady, gen))
	meta.SetStatusCondition(&st.Conditions, r.agentsCondition(ctx, c).condition(ConditionAgentsAvailable, gen))

	if addr, err := r.address(ctx, c); err != nil {
		log.Error(err, "compute the address")
	} else {
		st.Address = addr
	}
	if n, err := r.activeSessions(ctx, c); err != nil {
		log.Error(err, "count active sessions")
	} else {
		st.ActiveSessions = n
	}

	ready := passed(ReasonReady, "the proxies are available and Secret Server, the recording storage and the agents check out")
	var re *reasonError
	switch {
	case errors.As(reconcileErr, &re):
		ready = failed(re.reason, "%v", re.err)
	case reconcileErr != nil:
		ready = failed(ReasonReconcileFailed, "%v", reconcileErr)
	default:
		for _, typ := range []string{ConditionProxyAvailable, ConditionSecretServerReachable, ConditionRecordingStorageReady, ConditionAgentsAvailable} {
			if cond := meta.FindStatusCondition(st.Conditions, typ); cond != nil && cond.Status != metav1.ConditionTrue {
				ready = failed(cond.Reason, "%s: %s", typ, cond.Message)
				break
			}
		}
	}
	meta.SetStatusCondition(&st.Conditions, ready.condition(v1alpha1.ConditionReady, gen))
	if reconcileErr == nil || errors.Is(reconcileErr, reconcile.TerminalError(nil)) {
		st.ObservedGeneration = gen
	}
}

// proxyAvailable reads the Deployment's replica counts into the status and judges them.
func (r *RDSClusterReconciler) proxyAvailable(ctx context.Context, c *v1alpha1.RDSCluster) checkResult {
	var d appsv1.Deployment
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: proxyName(c)}, &d); err != nil {
		c.Status.Replicas, c.Status.ReadyReplicas = 0, 0
		if apierrors.IsNotFound(err) {
			return failed(ReasonDeploymentAbsent, "the proxy Deployment %s does not exist yet", proxyName(c))
		}
		return failed(ReasonReconcileFailed, "read the proxy Deployment: %v", err)
	}
	c.Status.Replicas, c.Status.ReadyReplicas = d.Status.Replicas, d.Status.ReadyReplicas
	want := proxyReplicas(c)
	avail := d.Status.AvailableReplicas
	switch {
	case want == 0:
		return failed(ReasonScaledToZero, "spec.proxy.replicas is 0: no proxy accepts connections")
	case avail == 0:
		return failed(ReasonNoReplicas, "0 of %d proxy replicas are available", want)
	case avail < want:
		return passed(ReasonPartiallyAvailable, "%d of %d proxy replicas are available", avail, want)
	}
	return passed(ReasonReplicasAvailable, "%d of %d proxy replicas are available", avail, want)
}

// secretServerCondition runs (or reuses) the Secret Server check.
func (r *RDSClusterReconciler) secretServerCondition(ctx context.Context, s *clusterScope) checkResult {
	c := s.cluster
	spec := c.Spec.SecretServer
	app, err := s.secret(ctx, spec.ApplicationAccountSecretRef.Name)
	if err != nil {
		return failed(ReasonSecretServerCheckFailed, "%v", err)
	}
	key := checkKey{cluster: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, check: ConditionSecretServerReachable}
	fp := fingerprint(spec.URL, spec.CABundle, spec.ApplicationAccountSecretRef.Name, secretVersion(app))
	return r.cachedCheck(key, fp, func() checkResult {
		return checkSecretServer(ctx, spec, app, orDefault(r.CheckTimeout, DefaultCheckTimeout))
	})
}

// recordingStorageCondition runs (or reuses) the bucket check.
func (r *RDSClusterReconciler) recordingStorageCondition(ctx context.Context, s *clusterScope) checkResult {
	c := s.cluster
	spec := c.Spec.RecordingStorage
	if spec == nil {
		return passed(ReasonNotConfigured, "no recording storage is configured; launchers that require recording are refused")
	}
	cred, err := s.secret(ctx, spec.CredentialsSecretRef.Name)
	if err != nil {
		return failed(ReasonBucketUnreachable, "%v", err)
	}
	nn := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	key := checkKey{cluster: nn, check: ConditionRecordingStorageReady}
	fp := fingerprint(spec.Endpoint, spec.Bucket, spec.Prefix, spec.Region, spec.CABundle, spec.CredentialsSecretRef.Name, secretVersion(cred))
	return r.cachedCheck(key, fp, func() checkResult {
		return checkRecordingStorage(ctx, spec, cred, nn, orDefault(r.CheckTimeout, DefaultCheckTimeout))
	})
}

func (r *RDSClusterReconciler) cachedCheck(key checkKey, fp string, run func() checkResult) checkResult {
	ttl := orDefault(r.CheckTTL, DefaultCheckTTL)
	if res, ok := r.checks.get(key, fp, r.now(), ttl); ok {
		return res
	}
	res := run()
	r.checks.put(key, fp, r.now(), res)
	return res
}

// agentsCondition judges the agent DaemonSet.
func (r *RDSClusterReconciler) agentsCondition(ctx context.Context, c *v1alpha1.RDSCluster) checkResult {
	if !c.Spec.Agents.Enabled {
		return passed(ReasonNotConfigured, "spec.agents.enabled is false: PuTTY and CustomProgram launchers are not available")
	}
	var ds appsv1.DaemonSet
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: agentName(c)}, &ds); err != nil {
		if apierrors.IsNotFound(err) {
			return failed(ReasonDaemonSetAbsent, "the agent DaemonSet %s does not exist yet", agentName(c))
		}
		return failed(ReasonReconcileFailed, "read the agent DaemonSet: %v", err)
	}
	want, avail := ds.Status.DesiredNumberScheduled, ds.Status.NumberAvailable
	switch {
	case want == 0:
		return failed(ReasonNoWindowsNodes, "no node runs the agent: the cluster has no schedulable Windows node (kubernetes.io/os=windows)")
	case avail < want:
		return failed(ReasonAgentsUnavailable, "%d of %d agents are available", avail, want)
	}
	return passed(ReasonAgentsAvailable, "%d of %d agents are available", avail, want)
}

// address is where .rdp files point: spec.externalAddress:externalPort, else the load balancer's
// address, else the Service's cluster IP (both on the Service's RDP port).
func (r *RDSClusterReconciler) address(ctx context.Context, c *v1alpha1.RDSCluster) (string, error) {
	if c.Spec.ExternalAddress != "" {
		port := c.Spec.ExternalPort
		if port == 0 {
			port = RDPPort
		}
		return net.JoinHostPort(strings.Trim(c.Spec.ExternalAddress, "[]"), strconv.Itoa(int(port))), nil
	}
	var svc corev1.Service
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: proxyName(c)}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read the proxy Service: %w", err)
	}
	port := strconv.Itoa(RDPPort)
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.Hostname != "" {
			return net.JoinHostPort(ing.Hostname, port), nil
		}
		if ing.IP != "" {
			return net.JoinHostPort(ing.IP, port), nil
		}
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		return net.JoinHostPort(ip, port), nil
	}
	return "", nil
}

// activeSessions counts the cluster's Sessions in phase Active.
func (r *RDSClusterReconciler) activeSessions(ctx context.Context, c *v1alpha1.RDSCluster) (int32, error) {
	var list v1alpha1.SessionList
	if err := r.Client.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingFields{indexSessionCluster: c.Name}); err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	var n int32
	for i := range list.Items {
		if list.Items[i].Status.Phase == v1alpha1.SessionActive {
			n++
		}
	}
	return n, nil
}

// conditionEvents records an event for each condition whose status changed.
func (r *RDSClusterReconciler) conditionEvents(before, after *v1alpha1.RDSCluster) {
	for _, cond := range after.Status.Conditions {
		old := meta.FindStatusCondition(before.Status.Conditions, cond.Type)
		if old != nil && old.Status == cond.Status && old.Reason == cond.Reason {
			continue
		}
		typ := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		// The action names the condition: events of one object merge by reason and action.
		r.event(after, typ, cond.Reason, cond.Type, "%s is %s: %s", cond.Type, cond.Status, cond.Message)
	}
}
