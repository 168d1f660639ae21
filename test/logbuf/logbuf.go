// Package logbuf collects process output and log lines written from many goroutines, for tests
// that search them (for an expected message, or for a password that must not be there).
package logbuf

import (
	"bytes"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers. The zero value is ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether s was written.
func (b *Buffer) Contains(s string) bool { return strings.Contains(b.String(), s) }

// Logger returns a logr.Logger that writes one line per entry, every verbosity included.
func (b *Buffer) Logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		_, _ = b.Write([]byte(prefix + " " + args + "\n"))
	}, funcr.Options{Verbosity: 10})
}
