package proxy_test

// Benchmarks of the proxy against baselines measured in the same run, with the fake RDP client
// and target of test/fakerdp in the same process (so they share the cores with the proxy).
// Baseline and proxy are measured in alternating short rounds, so that load from outside the
// benchmark (a shared machine) hits both alike:
//
//   - BenchmarkRelayThroughput: MB/s of PDUs echoed through the proxy (TLS on both legs)
//     against a plain io.Copy TCP relay in front of a plain TCP echo server; with MinIO, also
//     a recorded session (the cluster records to a real MinIO, launcher policy Required) beside
//     an unrecorded one, timed until the recording has caught up with the relay.
//   - BenchmarkRecordingUnderPressure: one session streaming for a few seconds, as fast as it
//     can or paced, unrecorded or recorded (BestEffort or Required) with S3 fast or far slower
//     than the relay: does the relay slow down, how many PDUs does the tap drop, is a Required
//     session cut, how much waits in the spool.
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
// The recorded variants need MinIO (test/s3peer); without it they are left out, saying so
// (with SC_REQUIRE_PEERS=1 they fail). PROXY_BENCH_PRESSURE sets how long each session of
// BenchmarkRecordingUnderPressure streams (default 4s).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/tcpfwd"
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

// pdus hands out the PDUs a benchmark sends, all of one size: its frames in turn.
type pdus struct {
	frames [][]byte
	next   int
}

func onePDU(frame []byte) *pdus { return &pdus{frames: [][]byte{frame}} }

func (p *pdus) take() []byte {
	f := p.frames[p.next]
	p.next = (p.next + 1) % len(p.frames)
	return f
}

func (p *pdus) size() int { return len(p.frames[0]) }

// echoStream sends n PDUs from one goroutine while another reads the n echoes, with at most
// window PDUs in flight (0: no limit).
func echoStream(c *fakerdp.Client, p *pdus, n, window int) error {
	_, err := echoCount(c, p, n, window)
	return err
}

// echoCount is echoStream that also returns how many echoes came back (all n without an error).
func echoCount(c *fakerdp.Client, p *pdus, n, window int) (int, error) {
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
			if err := c.Send(p.take()); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := range n {
		got, err := c.Recv()
		if err == nil && len(got) != p.size() {
			err = fmt.Errorf("echo %d has %d bytes, sent %d", i, len(got), p.size())
		}
		if err != nil {
			_ = c.Close() // unblocks the writer
			return i, err
		}
		if credits != nil {
			<-credits
		}
	}
	return n, <-errc
}

// dataFrames are Send Data Requests on the I/O channel carrying Share Data PDUs of n bytes:
// one with zeros after its headers or, with random, 2 MiB worth of PDUs of random bytes (as
// incompressible as graphics get; more than a recording chunk, so that a chunk does not repeat
// a PDU other than its echo). n must not have bit 6 set in its low byte (see fakerdp's
// TestProxyRelaysSlowPathPDUsOfAnyLength).
func dataFrames(b *testing.B, c *fakerdp.Client, n int, random bool) *pdus {
	b.Helper()
	count := 1
	if random {
		count = max(1, (2<<20)/n)
	}
	src := rand.NewChaCha8([32]byte{'s', 'c'})
	p := &pdus{}
	for range count {
		payload, err := fakerdp.DataPDU(n, c.UserID())
		if err != nil {
			b.Fatal(err)
		}
		if random {
			const headers = 6 + 12 // Share Control and Share Data headers
			_, _ = src.Read(payload[headers:])
		}
		frame, err := c.DataFrame(payload)
		if err != nil {
			b.Fatal(err)
		}
		p.frames = append(p.frames, frame)
	}
	return p
}

// mode is one way of reaching the echo: a baseline or the proxy.
type mode struct {
	name string
	dial dialer
}

// tsession is the session of one throughput mode. The hooks are set for recorded sessions.
type tsession struct {
	client *fakerdp.Client
	// ready runs once after the warm-up, with the PDUs and bytes of the warm-up.
	ready func(b *testing.B, warmPDUs, frameLen int)
	// begin runs before each round, untimed; settle runs after every batch PDUs of the round
	// (0: the whole round) and after the last, in the timed part, with the PDUs echoed since
	// the last call; drain runs after the round, untimed.
	begin  func(b *testing.B)
	batch  int
	settle func(b *testing.B, pdus int)
	drain  func(b *testing.B)
}

// tmode is one way of reaching the echo in the throughput benchmark.
type tmode struct {
	name string
	open func(b *testing.B) *tsession
}

func plainMode(name string, d dialer) tmode {
	return tmode{name, func(b *testing.B) *tsession { return &tsession{client: d(b)} }}
}

// interleaved sends b.N PDUs of size bytes through every mode, in rounds of roundBytes
// (rounded down to whole PDUs) through each mode in turn, so that load from outside the
// benchmark hits the baselines and the proxy alike; it returns each mode's MB/s (each way).
// random fills the PDUs with random bytes instead of zeros (what matters to a recorder's
// compression, nothing else).
func interleaved(b *testing.B, modes []tmode, size, roundBytes int, random bool) []float64 {
	chunk := max(1, roundBytes/size)
	sessions := make([]*tsession, len(modes))
	frames := make([]*pdus, len(modes))
	for i, m := range modes {
		sessions[i] = m.open(b)
		defer sessions[i].client.Close()
		frames[i] = dataFrames(b, sessions[i].client, size, random)
		// Past TLS's small first records (Go boosts the record size after 128 KiB).
		warm := 1 + (256<<10)/frames[i].size()
		if err := echoStream(sessions[i].client, frames[i], warm, relayWindow); err != nil {
			b.Fatal(err)
		}
		if sessions[i].ready != nil {
			sessions[i].ready(b, warm, frames[i].size())
		}
	}
	elapsed := make([]time.Duration, len(modes))
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		for i, s := range sessions {
			if s.begin != nil {
				b.StopTimer() // so that b.N grows with the timed parts only
				s.begin(b)
				b.StartTimer()
			}
			start := time.Now()
			for sent := 0; sent < chunk; {
				n := chunk - sent
				if s.batch > 0 {
					n = min(n, s.batch)
				}
				if err := echoStream(s.client, frames[i], n, relayWindow); err != nil {
					b.Fatalf("%s: %v", modes[i].name, err)
				}
				if s.settle != nil {
					s.settle(b, n)
				}
				sent += n
			}
			elapsed[i] += time.Since(start)
			if s.drain != nil {
				b.StopTimer()
				s.drain(b)
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	mbps := make([]float64, len(modes))
	for i, m := range modes {
		mbps[i] = float64(frames[i].size()) * float64(chunk*((b.N+chunk-1)/chunk)) / elapsed[i].Seconds() / 1e6
		b.ReportMetric(mbps[i], m.name+"-MB/s")
	}
	return mbps
}

func BenchmarkRelayThroughput(b *testing.B) {
	lab := startBenchLab(b, 0)
	plain := fakerdp.StartPlainRelay(b, fakerdp.StartEchoServer(b))
	plainRelay := plainMode("plain-tcp-relay", func(b *testing.B) *fakerdp.Client {
		conn, err := net.Dial("tcp", plain)
		if err != nil {
			b.Fatal(err)
		}
		return fakerdp.Attach(conn)
	})
	modes := []tmode{plainRelay, plainMode("direct-tls", directDialer(lab)), plainMode("proxy", proxyDialer(lab))}
	results := map[int][]float64{}
	sizes := []int{16 << 10, 1 << 10}
	for _, size := range sizes {
		// Rounds of 1 MiB through every mode in turn.
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			r := interleaved(b, modes, size, 1<<20, false)
			b.ReportMetric(100*r[2]/r[0], "proxy/plain-%")
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
			size>>10, r[0], r[1], r[2], 100*r[2]/r[0], 100*r[2]/r[1])
	}

	// The same with a recorded session beside the unrecorded one.
	s3 := startS3IfAvailable(b)
	if s3 == nil {
		return
	}
	rec := startRecordedLab(b, s3, v1alpha1.RecordingRequired)
	recModes := []tmode{plainRelay, plainMode("proxy", proxyDialer(lab)), {"proxy-recorded", rec.throughputSession}}
	recResults := map[int][]float64{}
	for _, size := range sizes {
		// Rounds of 16 MiB, so that the one chunk (1 MiB) by which the timed part may end before
		// the recording has caught up is at most 3 % of the round's records.
		b.Run(fmt.Sprintf("recorded-%dKiB", size>>10), func(b *testing.B) {
			r := interleaved(b, recModes, size, 16<<20, true)
			b.ReportMetric(100*r[2]/r[0], "recorded/plain-%")
			b.ReportMetric(100*r[2]/r[1], "recorded/unrecorded-%")
			recResults[size] = r
		})
	}
	fmt.Printf("\nrecorded relay throughput: random PDUs, interleaved rounds of 16 MiB; the recorded session waits for its recording\n"+
		"in the spool every %d PDUs and at the end of the round (S3 uploads paused meanwhile, then waited for untimed) (MB/s each way):\n", recordedBatch)
	for _, size := range sizes {
		r, ok := recResults[size]
		if !ok {
			continue
		}
		fmt.Printf("  %2d KiB PDUs: plain relay %7.1f  proxy %7.1f  proxy recorded %7.1f   recorded/plain = %.0f %%  recorded/unrecorded = %.0f %%\n",
			size>>10, r[0], r[1], r[2], 100*r[2]/r[0], 100*r[2]/r[1])
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
				if err := echoStream(clients[i], onePDU(pdu), 1, 1); err != nil {
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

// Recorded sessions: a Lab whose cluster records to a real MinIO (test/s3peer) through an
// s3Gate, with the proxy's spool in a folder the benchmark watches.

const (
	// benchPrefix is where the recorded labs store recordings in the bucket.
	benchPrefix = "bench"
	// recordOverhead is a record's fixed part in a chunk: time, direction, kind, length
	// (docs/recording-format.md).
	recordOverhead = 14
	// flushQuiet is longer than the proxy's recording flush interval (2 s): a recording whose
	// spool journal has not changed for that long holds every record the tap was given.
	flushQuiet = 2500 * time.Millisecond
)

// startS3IfAvailable starts MinIO, or returns nil and says why when there is none (it fails
// when SC_REQUIRE_PEERS=1).
func startS3IfAvailable(b *testing.B) *s3peer.Peer {
	b.Helper()
	if s3peer.Lookup() == "" {
		msg := "minio not found (build it with hack/minio/build.sh or set " + s3peer.BinaryEnv + "): the recorded variants are left out"
		if peers.Required() {
			b.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
		}
		fmt.Printf("\n%s\n", msg)
		return nil
	}
	return s3peer.Start(b)
}

// recordedLab is a Lab whose sessions are recorded.
type recordedLab struct {
	*fakerdp.Lab
	s3    *s3peer.Peer
	gate  *s3Gate
	spool string

	hOnce sync.Once
	h     int64 // records of a session's connection sequence
}

func startRecordedLab(b *testing.B, s3 *s3peer.Peer, policy v1alpha1.RecordingPolicy) *recordedLab {
	b.Helper()
	gate := startS3Gate(b, s3.Endpoint)
	spool := b.TempDir()
	lab := fakerdp.StartLab(b, fakerdp.LabOptions{User: "benchuser", Password: benchPassword,
		S3AccessKey: s3.AccessKey, S3SecretKey: s3.SecretKey,
		Cluster: func(c *v1alpha1.RDSCluster) {
			c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "http://" + gate.addr, Bucket: s3.Bucket,
				Prefix: benchPrefix, CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
		},
		Launcher: func(l *v1alpha1.SessionLauncher) { l.Spec.RecordingPolicy = policy },
		Config:   func(c *proxy.Config) { c.SpoolDir = spool },
	})
	return &recordedLab{Lab: lab, s3: s3, gate: gate, spool: spool}
}

// dial opens a recorded session and returns it with its Session's name.
func (l *recordedLab) dial(b *testing.B) (*fakerdp.Client, string) {
	b.Helper()
	tk := l.Issue(b)
	c, err := fakerdp.Dial(benchContext(b), l.Addr, tk.Text(), fakerdp.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return c, tk.ID
}

func (l *recordedLab) journal(session string) *spoolJournal {
	return &spoolJournal{glob: filepath.Join(l.spool, "*", session, "journal.jsonl"), buf: make([]byte, 64<<10)}
}

// backlog returns the chunks of a session in the spool that S3 does not have yet.
func (l *recordedLab) backlog(session string) (chunks int, size int64) {
	files, _ := filepath.Glob(filepath.Join(l.spool, "*", session, "chunk-*.zst"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			chunks++
			size += fi.Size()
		}
	}
	return chunks, size
}

// handshakeRecords returns how many records the connection sequence of a session leaves in its
// recording (the same for every session of the fake client), measured once with a session
// that sends nothing else.
func (l *recordedLab) handshakeRecords(b *testing.B) int64 {
	b.Helper()
	l.hOnce.Do(func() {
		c, id := l.dial(b)
		defer c.Close()
		l.h = waitQuiet(l.journal(id))
	})
	if l.h == 0 {
		b.Fatal("the connection sequence left no records in the spool journal")
	}
	return l.h
}

// waitQuiet waits until a journal has not changed for flushQuiet and returns its records.
func waitQuiet(j *spoolJournal) int64 {
	last, changed := j.records(), time.Now()
	for time.Since(changed) < flushQuiet {
		time.Sleep(20 * time.Millisecond)
		if n := j.records(); n != last {
			last, changed = n, time.Now()
		}
	}
	return last
}

// recordedBatch is how many PDUs the recorded throughput mode sends before it waits for the
// recording to catch up: 256 records (each PDU is recorded twice, sent and echoed), 4 MiB of
// 16 KiB PDUs, stay well below the tap's queue (4,096 PDUs, 8 MiB), so the session, whose
// launcher requires recording, is never cut.
const recordedBatch = 128

// throughputSession is the recorded mode of the throughput benchmark: the fastest a recorded
// session can go without outrunning its recording. After every recordedBatch PDUs, and at the
// end of a round, the client waits until the recording in the spool holds every record the tap
// was given except at most one chunk's worth (the chunk being filled, which the proxy flushes
// within 2 s). S3 uploads are paused during the round so that MinIO, which shares the cores,
// does not run in the timed part; they are waited for afterwards, untimed, so that they do not
// slow the other modes' rounds either.
func (l *recordedLab) throughputSession(b *testing.B) *tsession {
	c, id := l.dial(b)
	j := l.journal(id)
	var want, slack int64
	return &tsession{
		client: c,
		batch:  recordedBatch,
		ready: func(b *testing.B, warm, frameLen int) {
			h := l.handshakeRecords(b)
			want = h + 2*int64(warm) // each echoed PDU is two records, one each way
			rec := recordOverhead + frameLen
			slack = h + int64((capture.ChunkTarget+rec-1)/rec)
		},
		begin: func(*testing.B) { l.gate.setPaused(true) },
		settle: func(b *testing.B, pdus int) {
			want += 2 * int64(pdus)
			for deadline := time.Now().Add(time.Minute); j.records() < want-slack; time.Sleep(200 * time.Microsecond) {
				if time.Now().After(deadline) {
					b.Fatalf("the recording did not catch up: %d records spooled, %d relayed", j.records(), want)
				}
			}
		},
		drain: func(b *testing.B) {
			l.gate.setPaused(false)
			waitFor(b, "the uploads", func() bool { n, _ := l.backlog(id); return n == 0 })
		},
	}
}

// spoolJournal follows the spool journal of one recording (docs/recording-format.md: one JSON
// line per chunk written and fsynced).
type spoolJournal struct {
	glob, path string
	off        int64
	buf, tail  []byte
	n          int64
}

// records returns the records of the chunks journalled so far.
func (j *spoolJournal) records() int64 {
	if j.path == "" {
		m, _ := filepath.Glob(j.glob)
		if len(m) == 0 {
			return 0
		}
		j.path = m[0]
	}
	f, err := os.Open(j.path)
	if err != nil {
		return j.n // the session ended and its spool folder is gone
	}
	defer f.Close()
	for {
		k, err := f.ReadAt(j.buf, j.off)
		j.tail = append(j.tail, j.buf[:k]...)
		j.off += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	for {
		i := bytes.IndexByte(j.tail, '\n')
		if i < 0 {
			break
		}
		var c capture.ManifestChunk
		if json.Unmarshal(j.tail[:i], &c) == nil {
			j.n += int64(c.Records)
		}
		j.tail = j.tail[i+1:]
	}
	return j.n
}

// s3Gate is a TCP forwarder in front of MinIO whose upload direction can be paused or slowed
// down to a rate, as a far or congested S3 would be.
type s3Gate struct {
	addr string

	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	closed bool
	rate   float64   // bytes per second towards S3; 0: no limit
	next   time.Time // when the rate allows the next bytes
}

func startS3Gate(b *testing.B, upstream string) *s3Gate {
	b.Helper()
	g := &s3Gate{}
	g.cond = sync.NewCond(&g.mu)
	fwd := tcpfwd.Start(b, tcpfwd.Options{Upstream: func() string { return upstream }, Up: g.admit})
	g.addr = fwd.Addr
	b.Cleanup(func() { // runs before the forwarder's: release the uploads it holds
		g.mu.Lock()
		g.closed = true
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	return g
}

// admit waits until n bytes may go to S3; false when the gate is closed.
func (g *s3Gate) admit(n int) bool {
	g.mu.Lock()
	for g.paused && !g.closed {
		g.cond.Wait()
	}
	if g.closed {
		g.mu.Unlock()
		return false
	}
	var wait time.Duration
	if g.rate > 0 {
		now := time.Now()
		if g.next.Before(now) {
			g.next = now
		}
		g.next = g.next.Add(time.Duration(float64(n) / g.rate * float64(time.Second)))
		wait = g.next.Sub(now)
	}
	g.mu.Unlock()
	time.Sleep(wait)
	return true
}

func (g *s3Gate) setPaused(paused bool) {
	g.mu.Lock()
	g.paused = paused
	g.cond.Broadcast()
	g.mu.Unlock()
}

// setRate limits uploads to bytesPerSecond (0: no limit).
func (g *s3Gate) setRate(bytesPerSecond float64) {
	g.mu.Lock()
	g.rate, g.next = bytesPerSecond, time.Time{}
	g.mu.Unlock()
}

// storedRecording reads a session's manifest from MinIO: its records and bytes (chunk objects).
func (l *recordedLab) storedRecording(b *testing.B, session string) (*capture.Manifest, int64, int64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := l.s3.Client(b).GetObject(ctx, l.s3.Bucket, storage.ManifestKey(benchPrefix, session), minio.GetObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	_ = obj.Close()
	if err != nil {
		b.Fatalf("read the manifest: %v", err)
	}
	m, err := capture.ParseManifest(data)
	if err != nil {
		b.Fatal(err)
	}
	var records, size int64
	for _, c := range m.Chunks {
		records += int64(c.Records)
		size += c.Size
	}
	return m, records, size
}

// removeRecording deletes a session's objects (the benchmarks store gigabytes).
func (l *recordedLab) removeRecording(b *testing.B, m *capture.Manifest) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := l.s3.Client(b)
	for _, c := range m.Chunks {
		_ = client.RemoveObject(ctx, l.s3.Bucket, c.Key, minio.RemoveObjectOptions{})
	}
	_ = client.RemoveObject(ctx, l.s3.Bucket, storage.ManifestKey(benchPrefix, m.Session), minio.RemoveObjectOptions{})
}

// echoFor echoes PDUs for d, in batches of 16, at most rate bytes per second each way (0: as
// fast as they go), and returns how many it echoed.
func echoFor(c *fakerdp.Client, p *pdus, d time.Duration, window int, rate float64) (int, error) {
	total := 0
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		n, err := echoCount(c, p, 16, window)
		total += n
		if err != nil {
			return total, err
		}
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(total*p.size()) / rate * float64(time.Second)))))
		}
	}
	return total, nil
}

// BenchmarkRecordingUnderPressure: slowS3 is the upload bandwidth of its slow S3, far below
// what one busy session records; pacedRate is the rate of its paced sessions (each way), a
// very busy session that the recorder keeps up with on this machine.
const (
	slowS3    = 1e6
	pacedRate = 20e6
)

func BenchmarkRecordingUnderPressure(b *testing.B) {
	s3 := startS3IfAvailable(b)
	if s3 == nil {
		b.Skip("needs MinIO")
	}
	d := 4 * time.Second
	if v, err := time.ParseDuration(os.Getenv("PROXY_BENCH_PRESSURE")); err == nil && v > 0 {
		d = v
	}
	plainLab := startBenchLab(b, 0)
	best := startRecordedLab(b, s3, v1alpha1.RecordingBestEffort)
	req := startRecordedLab(b, s3, v1alpha1.RecordingRequired)
	type outcome struct {
		name                   string
		mbps                   float64
		given, stored, dropped int64
		backlogChunks          int
		backlogMB, storedMB    float64
		complete, cut          bool
		cutAfter               time.Duration
		reason                 string
		finish                 time.Duration
		recorded               bool
	}
	scenarios := []struct {
		name   string
		lab    *recordedLab
		s3Rate float64 // 0: as fast as MinIO takes it
		pace   float64 // 0: the client sends as fast as the echoes come back
	}{
		{"unrecorded", nil, 0, 0},
		{"best-effort", best, 0, 0},
		{"best-effort/slow-s3", best, slowS3, 0},
		{"required", req, 0, 0},
		{"paced/best-effort/slow-s3", best, slowS3, pacedRate},
		{"paced/required/slow-s3", req, slowS3, pacedRate},
	}
	var outcomes []outcome
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			var h int64
			if sc.lab != nil {
				h = sc.lab.handshakeRecords(b)
			}
			o := outcome{name: sc.name, recorded: sc.lab != nil}
			var moved float64
			var elapsed time.Duration
			b.ResetTimer()
			for range b.N {
				var c *fakerdp.Client
				var id string
				if sc.lab == nil {
					c = proxyDialer(plainLab)(b)
				} else {
					c, id = sc.lab.dial(b)
				}
				frames := dataFrames(b, c, 16<<10, true)
				const warm = 16
				if err := echoStream(c, frames, warm, relayWindow); err != nil {
					b.Fatal(err)
				}
				if sc.lab != nil {
					sc.lab.gate.setRate(sc.s3Rate)
				}
				start := time.Now()
				echoed, err := echoFor(c, frames, d, relayWindow, sc.pace)
				took := time.Since(start)
				elapsed += took
				moved += float64(echoed) * float64(frames.size())
				if err != nil {
					if sc.lab == nil || sc.lab == best {
						b.Fatalf("the session broke: %v", err)
					}
					o.cut, o.cutAfter = true, took
				}
				if sc.lab == nil {
					_ = c.Close()
					continue
				}
				chunks, backlog := sc.lab.backlog(id)
				o.backlogChunks, o.backlogMB = chunks, float64(backlog)/1e6
				_ = c.Close()
				sc.lab.gate.setRate(0) // S3 is fast again: the recording can complete
				ended := time.Now()
				s := sc.lab.WaitPhase(b, id, v1alpha1.SessionEnded, 5*time.Minute)
				o.finish = time.Since(ended)
				o.reason = s.Status.Reason
				o.complete = s.Status.Recording != nil && s.Status.Recording.Complete
				m, stored, size := sc.lab.storedRecording(b, id)
				o.given = h + 2*int64(warm+echoed)
				o.stored, o.storedMB = stored, float64(size)/1e6
				o.dropped = o.given - o.stored
				sc.lab.removeRecording(b, m)
			}
			b.StopTimer()
			o.mbps = moved / elapsed.Seconds() / 1e6
			b.ReportMetric(o.mbps, "MB/s")
			if o.recorded && !o.cut {
				b.ReportMetric(float64(o.dropped), "dropped-PDUs")
				b.ReportMetric(100*float64(o.dropped)/float64(o.given), "dropped-%")
			}
			if o.recorded {
				b.ReportMetric(o.backlogMB, "spool-backlog-MB")
				cut := 0.0
				if o.cut {
					cut = 1
				}
				b.ReportMetric(cut, "cut")
			}
			outcomes = append(outcomes, o)
		})
	}
	if len(outcomes) == 0 {
		return
	}
	base := outcomes[0].mbps
	fmt.Printf("\none session streaming random 16 KiB PDUs for %s (8 in flight), one scenario after another; slow S3 = %.0f MB/s of uploads;\n"+
		"paced sessions send %.0f MB/s each way (MB/s each way, %% of the unrecorded session's):\n", d, slowS3/1e6, pacedRate/1e6)
	for _, o := range outcomes {
		fmt.Printf("  %-26s relay %6.1f MB/s (%3.0f %%)", o.name, o.mbps, 100*o.mbps/base)
		if o.recorded {
			if o.cut {
				fmt.Printf("  CUT after %s (reason %s); %d records stored", o.cutAfter.Round(time.Millisecond), o.reason, o.stored)
			} else {
				fmt.Printf("  PDUs to the tap %7d, dropped %5d (%4.2f %%)", o.given, o.dropped, 100*float64(o.dropped)/float64(max(o.given, 1)))
			}
			fmt.Printf("; stored %6.1f MB; spool backlog at the end %4d chunks %6.1f MB; complete %t; ended %s after the client left",
				o.storedMB, o.backlogChunks, o.backlogMB, o.complete, o.finish.Round(time.Millisecond))
		}
		fmt.Println()
	}
}
