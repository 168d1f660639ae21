package fakerdp

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Baselines for benchmarks: the same PDU echo without RDP, TLS or a proxy.

// tcpServer accepts connections and runs handle on each until Close.
type tcpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startTCPServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				handle(c)
				_ = c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

// StartEchoServer starts a plain TCP server on 127.0.0.1 that echoes PDUs (TPKT or fast-path)
// back unchanged with the Target's echo loop, without TLS or a connection sequence. Attach a
// Client to a connection to it.
func StartEchoServer(t testing.TB) string {
	return startTCPServer(t, func(c net.Conn) {
		var n echoCounters
		_ = echo(newPDUReader(c), c, &n)
	})
}

// StartPlainRelay starts a TCP relay on 127.0.0.1 that copies bytes both ways between each
// client and a new connection to addr with io.Copy: the least a proxy can do.
func StartPlainRelay(t testing.TB, addr string) string {
	return startTCPServer(t, func(c net.Conn) {
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			done <- struct{}{}
		}
		go pipe(up, c)
		go pipe(c, up)
		<-done
		_ = c.Close()
		_ = up.Close()
		<-done
	})
}
