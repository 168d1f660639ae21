package proxy_test

// Benchmarks of the proxy against baselines measured in the same run, with the fake RDP client
// and target of test/fakerdp in the same process (so they share the cores with the proxy).
// Baseline and proxy are measured in alternating short rounds, so that load from outside the
// benchmark (a shared machine) hits both alike:
//
//   - BenchmarkRelayThroughput: MB/s of PDUs echoed through the proxy (TLS on both legs)
//     against a plain io.Copy TCP relay in front of a plain TCP echo server.
//   - BenchmarkPDULatency: round-trip time of small PDUs through the proxy against the same
//     client talking TLS to the fake target directly; p50 and p99 added by the proxy.
//   - BenchmarkIdleSessionMemory: heap and stack per established idle session through the
//     proxy, minus what the fake client and target cost for a direct session.
//   - BenchmarkHandshake: connections per second from accept to the active phase (ticket
//     claim, Secret Server, target TLS, MCS, Client Info, Demand Active) against direct
//     client-to-target handshakes.
//
// Run with: go test -run '^$' -bench . -benchtime 2s ./proxy/
// PROXY_BENCH_SESSIONS sets the number of sessions of the memory benchmark (default 1000).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/ticket"
)

const benchPassword = "Bench-Target-Pass-1"

// relayWindow is how many PDUs the throughput benchmark keeps in flight.
const relayWindow = 8

func startBenchLab(b *testing.B, maxSessions int) *fakerdp.Lab {
	b.Helper()
	return fakerdp.StartLab(b, fakerdp.LabOptions{User: "benchuser", Password: benchPassword, Config: func(c *proxy.Config) {
		if maxSessions > 0 {
			c.MaxSessions = maxSessions
		}
	}})
}

func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	b.Cleanup(cancel)
	return ctx
}

// dialer opens one client session of a benchmark mode.
type dialer func(b *testing.B) *fakerdp.Client

func directDialer(lab *fakerdp.Lab) dialer {
	return func(b *testing.B) *fakerdp.Client {
		c, err := fakerdp.Dial(benchContext(b), lab.Target.Addr, "", fakerdp.ClientOptions{User: "benchuser", Password: benchPassword})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
}

func proxyDialer(lab *fakerdp.Lab) dialer {
	return func(b *testing.B) *fakerdp.Client {
		c, err := fakerdp.Dial(benchContext(b), lab.Addr, lab.Issue(b).Text(), fakerdp.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
}

// echoStream sends n copies of frame from one goroutine while another reads the n echoes,
// with at most window PDUs in flight (0: no limit).
func echoStream(c *fakerdp.Client, frame []byte, n, window int) error {
	errc := make(chan error, 1)
	var credits chan struct{}
	if window > 0 {
		credits = make(chan struct{}, window)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range n {
			if credits != nil {
				select {
				case credits <- struct{}{}:
				case <-stop:
					errc <- nil
					return
				}
			}
			if err := c.Send(frame); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		got, err := c.Recv()
		if err == nil && len(got) != len(frame) {
			err = fmt.Errorf("echo %d has %d bytes, sent %d", i, len(got), len(frame))
		}
		if err != nil {
			_ = c.Close() // unblocks the writer
			return err
		}
		if credits != nil {
			<-credits
		}
	}
	return <-errc
}

// mustDataFrame is a Send Data Request on the I/O channel carrying a Share Data PDU of n bytes.
// n must not have bit 6 set in its low byte (see fakerdp's TestProxyRelaysSlowPathPDUsOfAnyLength).
func mustDataFrame(b *testing.B, c *fakerdp.Client, n int) []byte {
	b.Helper()
	payload, err := fakerdp.DataPDU(n, c.UserID())
	if err != nil {
		b.Fatal(err)
	}
	frame, err := c.DataFrame(payload)
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

// mode is one way of reaching the echo: a baseline or the proxy.
type mode struct {
	name string
	dial dialer
}

func BenchmarkRelayThroughput(b *testing.B) {
	lab := startBenchLab(b, 0)
	plain := fakerdp.StartPlainRelay(b, fakerdp.StartEchoServer(b))
	modes := []mode{
		{"plain-tcp-relay", func(b *testing.B) *fakerdp.Client {
			conn, err := net.Dial("tcp", plain)
			if err != nil {
				b.Fatal(err)
			}
			return fakerdp.Attach(conn)
		}},
		{"direct-tls", directDialer(lab)},
		{"proxy", proxyDialer(lab)},
	}
	type result struct{ mbps []float64 }
	results := map[int]result{}
	sizes := []int{16 << 10, 1 << 10}
	for _, size := range sizes {
		// Each round sends chunk PDUs through every mode in turn, so that load from outside
		// the benchmark hits the baselines and the proxy alike.
		chunk := max(1, (1<<20)/size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			clients := make([]*fakerdp.Client, len(modes))
			frames := make([][]byte, len(modes))
			for i, m := range modes {
				clients[i] = m.dial(b)
				defer clients[i].Close()
				frames[i] = mustDataFrame(b, clients[i], size)
				// Past TLS's small first records (Go boosts the record size after 128 KiB).
				if err := echoStream(clients[i], frames[i], 1+(256<<10)/len(frames[i]), relayWindow); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := make([]time.Duration, len(modes))
			b.ResetTimer()
			for done := 0; done < b.N; done += chunk {
				for i := range modes {
					start := time.Now()
					if err := echoStream(clients[i], frames[i], chunk, relayWindow); err != nil {
						b.Fatalf("%s: %v", modes[i].name, err)
					}
					elapsed[i] += time.Since(start)
				}
			}
			b.StopTimer()
			r := result{}
			for i, m := range modes {
				mbps := float64(len(frames[i])) * float64(chunk*((b.N+chunk-1)/chunk)) / elapsed[i].Seconds() / 1e6
				r.mbps = append(r.mbps, mbps)
				b.ReportMetric(mbps, m.name+"-MB/s")
			}
			b.ReportMetric(100*r.mbps[2]/r.mbps[0], "proxy/plain-%")
			results[size] = r
		})
	}
	fmt.Printf("\nrelay throughput, one session each, PDUs echoed by the target (MB/s each way; interleaved rounds of 1 MiB):\n")
	for _, size := range sizes {
		r, ok := results[size]
		if !ok {
			continue
		}
		fmt.Printf("  %2d KiB PDUs: plain relay %7.1f  direct TLS %7.1f  proxy %7.1f   proxy/plain = %.0f %% (target >= 40 %%)  proxy/direct-tls = %.0f %%\n",
			size>>10, r.mbps[0], r.mbps[1], r.mbps[2], 100*r.mbps[2]/r.mbps[0], 100*r.mbps[2]/r.mbps[1])
	}
}

func BenchmarkPDULatency(b *testing.B) {
	lab := startBenchLab(b, 0)
	modes := []mode{{"direct-tls", directDialer(lab)}, {"proxy", proxyDialer(lab)}}
	type result struct{ p50, p99, mean time.Duration }
	var results []result
	b.Run("fastpath-16B", func(b *testing.B) {
		pdu, err := fakerdp.FastPathInput(16) // a keystroke or two
		if err != nil {
			b.Fatal(err)
		}
		clients := make([]*fakerdp.Client, len(modes))
		for i, m := range modes {
			clients[i] = m.dial(b)
			defer clients[i].Close()
			for range 100 { // warm up
				if err := echoStream(clients[i], pdu, 1, 1); err != nil {
					b.Fatal(err)
				}
			}
		}
		// One round trip through each mode per iteration, alternating.
		samples := make([][]time.Duration, len(modes))
		b.ResetTimer()
		for range b.N {
			for i, c := range clients {
				start := time.Now()
				if err := c.Send(pdu); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Recv(); err != nil {
					b.Fatal(err)
				}
				samples[i] = append(samples[i], time.Since(start))
			}
		}
		b.StopTimer()
		results = results[:0]
		for i, m := range modes {
			s := samples[i]
			slices.Sort(s)
			var sum time.Duration
			for _, d := range s {
				sum += d
			}
			r := result{p50: s[len(s)/2], p99: s[len(s)*99/100], mean: sum / time.Duration(len(s))}
			results = append(results, r)
			b.ReportMetric(float64(r.p50.Nanoseconds())/1e3, m.name+"-p50-µs")
			b.ReportMetric(float64(r.p99.Nanoseconds())/1e3, m.name+"-p99-µs")
		}
	})
	if len(results) != 2 {
		return
	}
	d, p := results[0], results[1]
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	fmt.Printf("\nround trip of a 16-byte fast-path PDU, alternating direct and proxied (ms):\n")
	fmt.Printf("  direct TLS to the target: p50 %.3f  p99 %.3f  mean %.3f\n", ms(d.p50), ms(d.p99), ms(d.mean))
	fmt.Printf("  through the proxy:        p50 %.3f  p99 %.3f  mean %.3f\n", ms(p.p50), ms(p.p99), ms(p.mean))
	fmt.Printf("  added by the proxy:       p50 %.3f  p99 %.3f  (target: p99 added < 2 ms)\n", ms(p.p50-d.p50), ms(p.p99-d.p99))
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard one and returns it.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

// memUse is the live heap and the goroutine stacks after two collections.
type memUse struct {
	heap, stack uint64
	goroutines  int
}

func measureMem() memUse {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memUse{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// perSession is the growth from before to after, per session, in KiB.
func perSession(before, after memUse, n int) (heap, stack, goroutines float64) {
	return (float64(after.heap) - float64(before.heap)) / 1024 / float64(n),
		(float64(after.stack) - float64(before.stack)) / 1024 / float64(n),
		float64(after.goroutines-before.goroutines) / float64(n)
}

// openSessions opens n sessions with a few dialling goroutines.
func openSessions(n int, dial func() (*fakerdp.Client, error)) ([]*fakerdp.Client, error) {
	clients := make([]*fakerdp.Client, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := dial()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	return clients, errors.Join(errs...)
}

func closeAll(clients []*fakerdp.Client) {
	for _, c := range clients {
		if c != nil {
			_ = c.Close()
		}
	}
}

func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
	}
}

func BenchmarkIdleSessionMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("PROXY_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	// A proxied session holds four descriptors in this process (client, two proxy legs, target).
	if limit := raiseFileLimit(); uint64(4*n+256) > limit {
		fmt.Printf("RLIMIT_NOFILE is %d: measuring %d sessions instead of %d\n", limit, (limit-256)/4, n)
		n = int((limit - 256) / 4)
	}
	for range b.N {
		lab := startBenchLab(b, n+10)
		ctx := benchContext(b)
		tickets := make([]ticket.Ticket, n)
		for i := range tickets {
			tickets[i] = lab.Issue(b)
		}
		// Warm up lazily built state (TLS, the Secret Server client and its token, pools).
		for _, d := range []dialer{directDialer(lab), proxyDialer(lab)} {
			d(b).Close()
		}
		waitFor(b, "the warm-up sessions to end", func() bool { return lab.Server.ActiveSessions() == 0 && lab.Target.Stats().Active == 0 })

		before := measureMem()
		direct, err := openSessions(n, func() (*fakerdp.Client, error) {
			return fakerdp.Dial(ctx, lab.Target.Addr, "", fakerdp.ClientOptions{User: "benchuser"})
		})
		if err != nil {
			b.Fatal(err)
		}
		withDirect := measureMem()
		closeAll(direct)
		waitFor(b, "the direct sessions to end", func() bool { return lab.Target.Stats().Active == 0 })

		var next atomic.Int64
		start := time.Now()
		mid := measureMem()
		proxied, err := openSessions(n, func() (*fakerdp.Client, error) {
			return fakerdp.Dial(ctx, lab.Addr, tickets[next.Add(1)-1].Text(), fakerdp.ClientOptions{})
		})
		if err != nil {
			closeAll(proxied)
			b.Fatal(err)
		}
		opened := time.Since(start)
		waitFor(b, "the proxied sessions to be active", func() bool {
			return lab.Server.ActiveSessions() == n && lab.Metric("sessionconnector_proxy_handshakes_total", "outcome", "ok") >= float64(n+1)
		})
		withProxy := measureMem()
		closeAll(proxied)

		dh, ds, dg := perSession(before, withDirect, n)
		ph, ps, pg := perSession(mid, withProxy, n)
		share := (ph + ps) - (dh + ds)
		b.ReportMetric(share, "proxy-KiB/session")
		fmt.Printf("\nmemory per established idle session, %d sessions in one process (heap after GC + goroutine stacks, KiB; same run):\n", n)
		fmt.Printf("  direct client+target:       heap %6.1f  stacks %5.1f  goroutines %.1f\n", dh, ds, dg)
		fmt.Printf("  client+proxy+target:        heap %6.1f  stacks %5.1f  goroutines %.1f  (opened in %s)\n", ph, ps, pg, opened.Round(time.Millisecond))
		fmt.Printf("  the proxy's share:          heap %6.1f  stacks %5.1f  goroutines %.1f  total %.1f KiB/session (target <= 256)\n", ph-dh, ps-ds, pg-dg, share)
		waitFor(b, "the proxied sessions to end", func() bool { return lab.Server.ActiveSessions() == 0 })
	}
}

func BenchmarkHandshake(b *testing.B) {
	lab := startBenchLab(b, 1000)
	type handshaker struct {
		name string
		op   func(tk ticket.Ticket) error
	}
	modes := []handshaker{
		{"direct", func(ticket.Ticket) error {
			c, err := fakerdp.Dial(context.Background(), lab.Target.Addr, "", fakerdp.ClientOptions{User: "benchuser", Password: benchPassword})
			if err == nil {
				err = c.Close()
			}
			return err
		}},
		{"proxy", func(tk ticket.Ticket) error {
			c, err := fakerdp.Dial(context.Background(), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
			if err == nil {
				err = c.Close()
			}
			return err
		}},
	}
	rates := map[int][]float64{}
	concurrency := []int{1, 4}
	for _, clients := range concurrency {
		// Rounds of chunk handshakes per mode in turn, each with the given number of clients.
		const chunk = 16
		b.Run(fmt.Sprintf("%d-clients", clients), func(b *testing.B) {
			rounds := (b.N + chunk - 1) / chunk
			tickets := make([]ticket.Ticket, rounds*chunk)
			for i := range tickets {
				tickets[i] = lab.Issue(b)
			}
			elapsed := make([]time.Duration, len(modes))
			b.ResetTimer()
			for r := range rounds {
				for i, m := range modes {
					var (
						next atomic.Int64
						wg   sync.WaitGroup
						mu   sync.Mutex
						errs []error
					)
					start := time.Now()
					for range clients {
						wg.Go(func() {
							for {
								k := int(next.Add(1)) - 1
								if k >= chunk {
									return
								}
								if err := m.op(tickets[r*chunk+k]); err != nil {
									mu.Lock()
									errs = append(errs, err)
									mu.Unlock()
									return
								}
							}
						})
					}
					wg.Wait()
					elapsed[i] += time.Since(start)
					if err := errors.Join(errs...); err != nil {
						b.Fatalf("%s: %v", m.name, err)
					}
				}
			}
			b.StopTimer()
			var rs []float64
			for i, m := range modes {
				rate := float64(rounds*chunk) / elapsed[i].Seconds()
				rs = append(rs, rate)
				b.ReportMetric(rate, m.name+"-handshakes/s")
			}
			rates[clients] = rs
		})
	}
	fmt.Printf("\nhandshakes to the active phase per second (interleaved rounds of %d):\n", 16)
	for _, clients := range concurrency {
		r, ok := rates[clients]
		if !ok {
			continue
		}
		fmt.Printf("  %d client(s): direct %6.0f/s  proxy %6.0f/s (%.1f ms of wall time each)  proxy/direct = %.0f %%\n",
			clients, r[0], r[1], 1000/r[1], 100*r[1]/r[0])
	}
}
