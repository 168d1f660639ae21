// Package tcpfwd is a TCP forwarder for tests and benchmarks that stand between two peers: it
// forwards each accepted connection to an upstream address and lets a hook see (count, delay
// or stop) every piece of data before it is forwarded.
package tcpfwd

import (
	"net"
	"sync"
	"testing"
)

// Options of a Forwarder.
type Options struct {
	// Upstream returns the address to connect an accepted connection to.
	Upstream func() string
	// Up and Down, when set, are called with the size of each piece of data before it goes
	// upstream (from the accepted connection) or downstream; they may block (to pace it), and
	// returning false ends that connection.
	Up, Down func(n int) bool
}

// Forwarder forwards connections until the test ends.
type Forwarder struct {
	// Addr is where it listens (127.0.0.1, a free port).
	Addr string
}

// Start listens and forwards; everything is closed when the test ends.
func Start(tb testing.TB, o Options) *Forwarder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", o.Upstream())
			if err != nil {
				_ = in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() { pipe(out, in, o.Up) })
			wg.Go(func() { pipe(in, out, o.Down) })
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return &Forwarder{Addr: ln.Addr().String()}
}

// pipe copies src to dst, asking hook first about each piece, then closes dst.
func pipe(dst, src net.Conn, hook func(int) bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if hook != nil && !hook(n) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
}
