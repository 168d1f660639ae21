package proxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// relayBufferSize is the copy buffer per direction. RDP PDUs are at most 64 KiB; 16 KiB keeps
// idle sessions small and moves a full-screen update in a few reads.
const relayBufferSize = 16 << 10

// Why a relay ended.
const (
	endClient   = "client_disconnected"
	endTarget   = "target_disconnected"
	endIdle     = "idle_timeout"
	endShutdown = "shutdown"
)

// relay copies bytes both ways between client and target until one side ends, the session is
// idle for idleTimeout (0: never), or stop is closed. It closes both connections and says why it
// ended.
type relay struct {
	client, target net.Conn
	idleTimeout    time.Duration
	stop           <-chan struct{}
	toTarget       prometheus.Counter
	toClient       prometheus.Counter

	lastActivity atomic.Int64 // unix nanoseconds
}

func (r *relay) run() string {
	var (
		once   sync.Once
		reason string
		wg     sync.WaitGroup
	)
	end := func(why string) {
		once.Do(func() {
			reason = why
			_ = r.client.Close()
			_ = r.target.Close()
		})
	}
	r.lastActivity.Store(time.Now().UnixNano())
	wg.Add(2)
	go func() { defer wg.Done(); r.copy(r.target, r.client, r.toTarget); end(endClient) }()
	go func() { defer wg.Done(); r.copy(r.client, r.target, r.toClient); end(endTarget) }()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var tick <-chan time.Time
	if r.idleTimeout > 0 {
		t := time.NewTicker(min(r.idleTimeout/4, 30*time.Second) + time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-done:
			return reason
		case <-r.stop:
			end(endShutdown)
		case now := <-tick:
			if now.Sub(time.Unix(0, r.lastActivity.Load())) >= r.idleTimeout {
				end(endIdle)
			}
		}
	}
}

// copy moves bytes from src to dst; it returns at EOF or the first error of either side.
func (r *relay) copy(dst io.Writer, src io.Reader, counter prometheus.Counter) {
	buf := make([]byte, relayBufferSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.lastActivity.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			counter.Add(float64(n))
		}
		if err != nil {
			return // EOF or an error: the caller names the side that ended
		}
	}
}
