package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// newSession creates a Session of cluster with the given status (phase Issued when empty) and an
// expiry an hour away.
func newSession(t *testing.T, c client.Client, ns, cluster string, status v1alpha1.SessionStatus) *v1alpha1.Session {
	return newSessionExpiring(t, c, ns, cluster, time.Now().Add(time.Hour), status)
}

func newSessionExpiring(t *testing.T, c client.Client, ns, cluster string, expires time.Time, status v1alpha1.SessionStatus) *v1alpha1.Session {
	t.Helper()
	tk, err := ticket.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &v1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: tk.ID, Namespace: ns},
		Spec: v1alpha1.SessionSpec{
			ClusterRef: cluster, LauncherRef: "rdp", User: "alice", SecretID: 42, Target: "web01:3389",
			TicketHash: tk.Hash(), ExpiresAt: metav1.NewTime(expires),
		},
	}
	ctx := context.Background()
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if status.Phase == "" {
		// As the launch API leaves it for a moment: no phase counts as Issued.
		s.Status.Phase = v1alpha1.SessionIssued
		return s
	}
	// The operator may write the status between create and this update (as it may between the
	// launch API's two calls): retry on conflicts.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return err
		}
		s.Status = status
		return c.Status().Update(ctx, s)
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func waitSession(t *testing.T, c client.Client, s *v1alpha1.Session, what string, ok func(*v1alpha1.Session) error) {
	t.Helper()
	eventually(t, waitFor, what, func() error {
		var got v1alpha1.Session
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
			return err
		}
		return ok(&got)
	})
}

func phaseIs(phase v1alpha1.SessionPhase, reason string) func(*v1alpha1.Session) error {
	return func(s *v1alpha1.Session) error {
		if s.Status.Phase != phase || s.Status.Reason != reason || s.Status.EndedAt == nil {
			return fmt.Errorf("status %+v", s.Status)
		}
		return nil
	}
}

func waitDeleted(t *testing.T, c client.Client, s *v1alpha1.Session, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "session deleted", func() error {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(s), &v1alpha1.Session{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

func TestSessionExpiry(t *testing.T) {
	c := needEnv(t)
	ns := newNamespace(t, c)
	past := newSessionExpiring(t, c, ns, "front", time.Now().Add(-time.Minute), v1alpha1.SessionStatus{})
	soon := newSessionExpiring(t, c, ns, "front", time.Now().Add(2*time.Second), v1alpha1.SessionStatus{})
	later := newSession(t, c, ns, "front", v1alpha1.SessionStatus{})
	claimed := newSessionExpiring(t, c, ns, "front", time.Now().Add(-time.Minute),
		v1alpha1.SessionStatus{Phase: v1alpha1.SessionConnecting})

	waitSession(t, c, past, "an expired ticket", phaseIs(v1alpha1.SessionExpired, v1alpha1.ReasonTicketExpired))
	waitSession(t, c, soon, "a ticket expiring in 2 s", phaseIs(v1alpha1.SessionExpired, v1alpha1.ReasonTicketExpired))
	for _, s := range []*v1alpha1.Session{later, claimed} {
		var got v1alpha1.Session
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
			t.Fatal(err)
		}
		if got.EffectivePhase() != s.EffectivePhase() {
			t.Errorf("session %s went from %s to %s", s.Name, s.EffectivePhase(), got.EffectivePhase())
		}
	}
}

func TestSessionRetention(t *testing.T) {
	c := needEnv(t)
	ns := newNamespace(t, c)
	retention := testOpts.SessionRetention
	ago := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: time.Now().Add(-d)} }

	old := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionEnded, EndedAt: ago(retention + time.Minute)})
	rejected := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionRejected, EndedAt: ago(2 * retention)})
	// Ends its retention in 3 s.
	almost := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionExpired, EndedAt: ago(retention - 3*time.Second)})
	// No endedAt: its creation counts (just now).
	fresh := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionEnded})

	waitDeleted(t, c, old, waitFor)
	waitDeleted(t, c, rejected, waitFor)
	var got v1alpha1.Session
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(almost), &got); err != nil {
		t.Fatalf("a session inside its retention was deleted: %v", err)
	}
	waitDeleted(t, c, almost, 10*time.Second)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(fresh), &got); err != nil {
		t.Fatalf("a session ended just now was deleted: %v", err)
	}
}

func TestSessionProxyLost(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	pod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "proxy", Image: "x"}}},
		}
	}
	live := pod("front-proxy-live", map[string]string{LabelName: ProxyName, LabelInstance: "front"})
	unlabelled := pod("front-proxy-unlabelled", nil)
	create(t, c, live, unlabelled)

	onLive := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionActive, ProxyName: live.Name})
	connecting := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionConnecting, ProxyName: live.Name})
	onUnlabelled := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionActive, ProxyName: unlabelled.Name})
	orphan := newSession(t, c, ns, "front", v1alpha1.SessionStatus{Phase: v1alpha1.SessionActive, ProxyName: "front-proxy-gone"})

	waitSession(t, c, orphan, "a session on a pod that does not exist", phaseIs(v1alpha1.SessionEnded, v1alpha1.ReasonProxyLost))
	var got v1alpha1.Session
	if err := c.Get(ctx, client.ObjectKeyFromObject(orphan), &got); err != nil || !strings.Contains(got.Status.Message, "front-proxy-gone") {
		t.Errorf("message %q, %v", got.Status.Message, err)
	}
	for _, s := range []*v1alpha1.Session{onLive, connecting, onUnlabelled} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != s.Status.Phase {
			t.Errorf("session on a live pod went to %s (%s)", got.Status.Phase, got.Status.Reason)
		}
	}

	// The pod goes away: its sessions end at once (the pod watch), without waiting for a resync.
	if err := c.Delete(ctx, live); err != nil {
		t.Fatal(err)
	}
	waitSession(t, c, onLive, "an active session whose pod was deleted", phaseIs(v1alpha1.SessionEnded, v1alpha1.ReasonProxyLost))
	waitSession(t, c, connecting, "a connecting session whose pod was deleted", phaseIs(v1alpha1.SessionEnded, v1alpha1.ReasonProxyLost))
}
