package capture

import (
	"errors"
	"io"
)

// Sequence reads the sources next opens one after another as one stream, closing each at its
// end: the chunk objects or chunk files of a recording, for a Reader. next returns io.EOF after
// the last source.
type Sequence struct {
	next func() (io.ReadCloser, error)
	cur  io.ReadCloser
}

// NewSequence returns a Sequence of the sources next opens.
func NewSequence(next func() (io.ReadCloser, error)) *Sequence { return &Sequence{next: next} }

// Read implements io.Reader.
func (s *Sequence) Read(p []byte) (int, error) {
	for {
		if s.cur == nil {
			src, err := s.next()
			if err != nil {
				return 0, err // io.EOF after the last source
			}
			s.cur = src
		}
		n, err := s.cur.Read(p)
		if errors.Is(err, io.EOF) {
			_ = s.Close()
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Close closes the source being read, if any.
func (s *Sequence) Close() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}

// limited reads at most n bytes of rc and closes rc.
type limited struct {
	io.Reader
	io.Closer
}

// LimitSource returns rc limited to n bytes.
func LimitSource(rc io.ReadCloser, n int64) io.ReadCloser {
	return limited{io.LimitReader(rc, n), rc}
}
