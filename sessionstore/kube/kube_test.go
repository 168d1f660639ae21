package kube

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
	"github.com/sessionconnector/sessionconnector/ticket"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Main(m, &env)) }

var nsCounter atomic.Int32

// namespace makes a fresh namespace so each contract test starts empty.
func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("store-%d-%d", os.Getpid(), nsCounter.Add(1))}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func TestContract(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, clock *storetest.Clock) sessionstore.Store {
			c := env.Client(t)
			return New(c, namespace(t, c), Options{Now: clock.Now})
		},
		// Each replica has its own client, as separate proxy pods would.
		Replica: func(t *testing.T, s sessionstore.Store, clock *storetest.Clock) sessionstore.Store {
			return New(env.Client(t), s.(*Store).namespace, Options{Now: clock.Now})
		},
	})
}

func TestSpecIsImmutable(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	ctx := context.Background()
	c := env.Client(t)
	s := New(c, namespace(t, c), Options{})
	tk, _ := ticket.New()
	sess := storetest.NewSession(tk, time.Now(), time.Hour)
	if err := s.Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	sess.Spec.Target = "10.0.0.1:3389"
	err := c.Update(ctx, sess)
	if err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("update of the spec: %v, want an immutable error", err)
	}
}

func TestTicketHashValidated(t *testing.T) {
	if env == nil {
		t.Skip("no envtest binaries")
	}
	ctx := context.Background()
	c := env.Client(t)
	ns := namespace(t, c)
	tk, _ := ticket.New()
	sess := storetest.NewSession(tk, time.Now(), time.Hour)
	sess.Namespace = ns
	sess.Spec.TicketHash = strings.Repeat("Z", 64)
	if err := c.Create(ctx, sess); err == nil {
		t.Fatal("the API server accepted a ticket hash that is not hex SHA-256")
	}
}
