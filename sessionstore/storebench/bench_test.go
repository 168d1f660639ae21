package storebench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/sessionstore/embedded"
	"github.com/sessionconnector/sessionconnector/sessionstore/kube"
	"github.com/sessionconnector/sessionconnector/sessionstore/storetest"
	"github.com/sessionconnector/sessionconnector/test/kubeenv"
	"github.com/sessionconnector/sessionconnector/ticket"
)

var env *kubeenv.Env

func TestMain(m *testing.M) { os.Exit(kubeenv.Main(m, &env)) }

// memoryStore is the baseline: the same rules (Decide) on a map behind a mutex, nothing stored.
type memoryStore struct {
	mu sync.Mutex
	m  map[string]*v1alpha1.Session
}

func (s *memoryStore) create(sess *v1alpha1.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sess.Name] = sess.DeepCopy()
}

func (s *memoryStore) claim(t ticket.Ticket, req sessionstore.ClaimRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[t.ID]
	next := sess.DeepCopy()
	d := sessionstore.Decide(next, t, req, time.Now())
	if d.Write {
		s.m[t.ID] = next
	}
	return d.Err
}

// launchOnce issues a ticket and claims it, as one launch followed by one connection does.
type launchOnce func(b *testing.B) error

func issueAndClaim(store sessionstore.Store) launchOnce {
	ctx := context.Background()
	return func(b *testing.B) error {
		tk, err := ticket.New()
		if err != nil {
			return err
		}
		if err := store.Create(ctx, storetest.NewSession(tk, time.Now(), time.Hour)); err != nil {
			return err
		}
		_, _, err = store.Claim(ctx, tk, sessionstore.ClaimRequest{ClientAddress: "192.0.2.1", Proxy: "bench"})
		return err
	}
}

func BenchmarkIssueAndClaim(b *testing.B) {
	mem := &memoryStore{m: map[string]*v1alpha1.Session{}}
	cases := []struct {
		name string
		op   func(b *testing.B) launchOnce
	}{
		{"memory-baseline", func(*testing.B) launchOnce {
			return func(*testing.B) error {
				tk, err := ticket.New()
				if err != nil {
					return err
				}
				mem.create(storetest.NewSession(tk, time.Now(), time.Hour))
				return mem.claim(tk, sessionstore.ClaimRequest{ClientAddress: "192.0.2.1"})
			}
		}},
		{"embedded-fsync", func(b *testing.B) launchOnce { return issueAndClaim(openEmbedded(b, false)) }},
		{"embedded-nosync", func(b *testing.B) launchOnce { return issueAndClaim(openEmbedded(b, true)) }},
		{"kube-envtest", func(b *testing.B) launchOnce {
			if env == nil {
				b.Skip("no envtest binaries")
			}
			c := env.Client(b)
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
			if err := c.Create(context.Background(), ns); err != nil {
				b.Fatal(err)
			}
			return issueAndClaim(kube.New(c, ns.Name, kube.Options{}))
		}},
	}
	perOp := map[string]float64{}
	for _, parallel := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if parallel {
				name += "-parallel"
			}
			b.Run(name, func(b *testing.B) {
				op := tc.op(b)
				start := time.Now()
				if parallel {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := op(b); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := op(b); err != nil {
							b.Fatal(err)
						}
					}
				}
				ns := float64(time.Since(start).Nanoseconds()) / float64(b.N)
				perOp[name] = ns
				b.ReportMetric(1e9/ns, "launches/s")
			})
		}
	}
	base := perOp["memory-baseline"]
	if base == 0 {
		return
	}
	fmt.Printf("\nissue+claim throughput relative to the in-memory baseline (same run):\n")
	for _, parallel := range []string{"", "-parallel"} {
		for _, tc := range cases {
			if ns, ok := perOp[tc.name+parallel]; ok {
				fmt.Printf("  %-28s %10.0f launches/s  %8.4fx baseline\n", tc.name+parallel, 1e9/ns, base/ns)
			}
		}
	}
}

func openEmbedded(b *testing.B, noSync bool) sessionstore.Store {
	s, err := embedded.Open(b.TempDir(), embedded.Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}
