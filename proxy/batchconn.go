package proxy

import (
	"net"
	"sync"
)

// batchConn sits under a tls.Conn so that the records of one TLS write leave in one system call:
// crypto/tls writes each record (at most 16 KiB) separately, and an RDP PDU of 16 KiB of data
// plus headers makes two. While batching, the records collect in a pooled buffer and flush()
// writes them at once.
type batchConn struct {
	net.Conn
	mu       sync.Mutex // tls.Conn may write an alert from Close while a pump flushes
	batching bool
	buf      *[]byte
}

var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2*coalesceLimit+1024); return &b }}

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.Conn.Write(p)
	}
	if b.buf == nil {
		b.buf = batchBuffers.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// writeBatched writes data through w (the tls.Conn above b) and sends its records together.
func (b *batchConn) writeBatched(w interface{ Write([]byte) (int, error) }, data []byte) error {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
	_, err := w.Write(data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	if b.buf == nil {
		return err
	}
	buf := *b.buf
	if err == nil {
		_, err = b.Conn.Write(buf)
	}
	*b.buf = buf[:0]
	batchBuffers.Put(b.buf)
	b.buf = nil
	return err
}
