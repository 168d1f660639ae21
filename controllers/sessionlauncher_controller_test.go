package controllers

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

func waitLauncher(t *testing.T, c client.Client, key client.ObjectKey, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("launcher %s Ready=%s/%s", key.Name, status, reason), func() error {
		var l v1alpha1.SessionLauncher
		if err := c.Get(context.Background(), key, &l); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(l.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil || cond.Status != status || cond.Reason != reason {
			return fmt.Errorf("conditions %+v", l.Status.Conditions)
		}
		if l.Status.ObservedGeneration != l.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", l.Status.ObservedGeneration, l.Generation)
		}
		return nil
	})
}

func TestSessionLauncherReady(t *testing.T) {
	c := needEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	launcher := func(name, cluster string, typ v1alpha1.LauncherType, hosts ...string) *v1alpha1.SessionLauncher {
		return &v1alpha1.SessionLauncher{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.SessionLauncherSpec{ClusterRef: cluster, Type: typ, AllowedHosts: hosts,
				Templates: []v1alpha1.TemplateReference{{Name: "Windows Account"}, {ID: 6001}}},
		}
	}
	good := launcher("rdp", "front", v1alpha1.LauncherRemoteDesktop, "*.corp.example", "10.0.0.0/8:3390")
	orphan := launcher("orphan", "nowhere", v1alpha1.LauncherRemoteDesktop)
	badHost := launcher("badhost", "front", v1alpha1.LauncherRemoteDesktop, "web01:99999")
	putty := launcher("putty", "front", v1alpha1.LauncherPuTTY)
	create(t, c, appSecret(ns), newCluster(ns, "front"), good, orphan, badHost, putty)

	waitLauncher(t, c, client.ObjectKeyFromObject(good), metav1.ConditionTrue, ReasonLauncherValid)
	waitLauncher(t, c, client.ObjectKeyFromObject(orphan), metav1.ConditionFalse, ReasonClusterNotFound)
	waitLauncher(t, c, client.ObjectKeyFromObject(badHost), metav1.ConditionFalse, ReasonInvalidAllowedHost)
	waitLauncher(t, c, client.ObjectKeyFromObject(putty), metav1.ConditionFalse, ReasonAgentsNotEnabled)

	// The cluster's changes reach its launchers.
	updateCluster(t, c, client.ObjectKey{Namespace: ns, Name: "front"}, func(cl *v1alpha1.RDSCluster) { cl.Spec.Agents.Enabled = true })
	waitLauncher(t, c, client.ObjectKeyFromObject(putty), metav1.ConditionTrue, ReasonLauncherValid)
	create(t, c, newCluster(ns, "nowhere"))
	waitLauncher(t, c, client.ObjectKeyFromObject(orphan), metav1.ConditionTrue, ReasonLauncherValid)
	if err := c.Delete(ctx, &v1alpha1.RDSCluster{ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	waitLauncher(t, c, client.ObjectKeyFromObject(good), metav1.ConditionFalse, ReasonClusterNotFound)

	// A spec change is validated again.
	var l v1alpha1.SessionLauncher
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(badHost), &l); err != nil {
			return err
		}
		l.Spec.ClusterRef = "nowhere"
		l.Spec.AllowedHosts = []string{"web01:3390"}
		return c.Update(ctx, &l)
	}); err != nil {
		t.Fatal(err)
	}
	waitLauncher(t, c, client.ObjectKeyFromObject(&l), metav1.ConditionTrue, ReasonLauncherValid)
}
