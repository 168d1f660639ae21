package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

const waitFor = 20 * time.Second

func newCluster(ns, name string) *v1alpha1.RDSCluster {
	return &v1alpha1.RDSCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RDSClusterSpec{SecretServer: v1alpha1.SecretServerSpec{
			URL:                         vault.URL,
			CABundle:                    string(vault.CAPEM),
			ApplicationAccountSecretRef: v1alpha1.LocalSecretReference{Name: "app"},
		}},
	}
}

func newSecret(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
}

func appSecret(ns string) *corev1.Secret {
	return newSecret(ns, "app", map[string]string{"username": appUser, "password": appPassword})
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// updateCluster changes a cluster, retrying when the operator's status writes got in between.
func updateCluster(t *testing.T, c client.Client, key client.ObjectKey, mutate func(*v1alpha1.RDSCluster)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cl v1alpha1.RDSCluster
		if err := c.Get(context.Background(), key, &cl); err != nil {
			return err
		}
		mutate(&cl)
		return c.Update(context.Background(), &cl)
	})
	if err != nil {
		t.Fatalf("update RDSCluster %s: %v", key.Name, err)
	}
}

// waitCondition waits until the cluster's condition has the status and reason and returns it.
func waitCondition(t *testing.T, c client.Client, key client.ObjectKey, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	eventually(t, waitFor, fmt.Sprintf("%s %s=%s/%s", key.Name, typ, status, reason), func() error {
		var cl v1alpha1.RDSCluster
		if err := c.Get(context.Background(), key, &cl); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(cl.Status.Conditions, typ)
		if cond == nil {
			return fmt.Errorf("no condition %s yet (conditions %+v)", typ, cl.Status.Conditions)
		}
		if cond.Status != status || cond.Reason != reason {
			return fmt.Errorf("condition is %s/%s: %s", cond.Status, cond.Reason, cond.Message)
		}
		got = *cond
		return nil
	})
	return got
}

// get waits for an object to exist and reads it.
func get(t *testing.T, c client.Client, ns, name string, obj client.Object) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("%T %s", obj, name), func() error {
		return c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	})
}

// checkOwner fails unless the cluster is obj's controller and blocks its deletion until obj is gone.
func checkOwner(t *testing.T, obj client.Object, cluster *v1alpha1.RDSCluster) {
	t.Helper()
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != cluster.UID || ref.Kind != "RDSCluster" || ref.APIVersion != v1alpha1.GroupVersion.String() ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("%T %s: controller reference %+v, want RDSCluster %s (uid %s) blocking deletion", obj, obj.GetName(), ref, cluster.Name, cluster.UID)
	}
	if obj.GetLabels()[LabelManagedBy] != ManagedByValue {
		t.Errorf("%T %s: labels %v lack %s=%s", obj, obj.GetName(), obj.GetLabels(), LabelManagedBy, ManagedByValue)
	}
}
