package fakerdp

import (
	"bufio"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// readBufferSize is the buffered reader of each connection. PDUs that fit are returned without
// a copy; longer ones are read straight into a buffer that grows once.
const readBufferSize = 4 << 10

// pduReader reads whole PDUs (TPKT frames or fast-path PDUs) from a byte stream. The slice
// next returns is valid until the following call.
type pduReader struct {
	br      *bufio.Reader
	big     []byte
	pending int // bytes of the last PDU still in br, discarded on the next call
}

func newPDUReader(r io.Reader) *pduReader {
	return &pduReader{br: bufio.NewReaderSize(r, readBufferSize)}
}

func (r *pduReader) next() (tpkt.Kind, []byte, error) {
	if r.pending > 0 {
		_, _ = r.br.Discard(r.pending)
		r.pending = 0
	}
	hdr, err := r.br.Peek(2)
	if err != nil {
		return tpkt.KindUnknown, nil, err
	}
	kind := tpkt.Detect(hdr[0])
	var n int
	switch kind {
	case tpkt.KindTPKT:
		if hdr, err = r.br.Peek(tpkt.HeaderLen); err != nil {
			return kind, nil, err
		}
		n, err = tpkt.FrameLength(hdr)
	case tpkt.KindFastPath:
		if hdr[1]&0x80 != 0 {
			if hdr, err = r.br.Peek(3); err != nil {
				return kind, nil, err
			}
		}
		n, _, err = tpkt.FastPathLength(hdr)
	default:
		err = fmt.Errorf("fakerdp: neither TPKT nor fast-path (first byte %#02x)", hdr[0])
	}
	if err != nil {
		return kind, nil, err
	}
	if n <= r.br.Size() {
		b, err := r.br.Peek(n)
		if err != nil {
			return kind, nil, err
		}
		r.pending = n
		return kind, b, nil
	}
	if cap(r.big) < n {
		r.big = make([]byte, n)
	}
	b := r.big[:n]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return kind, nil, err
	}
	return kind, b, nil
}

// readFrame reads one TPKT frame; a fast-path PDU is an error.
func (r *pduReader) readFrame() ([]byte, error) {
	kind, b, err := r.next()
	if err != nil {
		return nil, err
	}
	if kind != tpkt.KindTPKT {
		return nil, fmt.Errorf("fakerdp: a %s PDU where a TPKT frame was expected", kind)
	}
	return b, nil
}

// echoCounters count what an echo loop sent back.
type echoCounters struct {
	pdus, bytes atomic.Int64
}

// echo writes every PDU r reads back to w unchanged until an error (io.EOF when the peer
// closes).
func echo(r *pduReader, w io.Writer, c *echoCounters) error {
	for {
		_, b, err := r.next()
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		c.pdus.Add(1)
		c.bytes.Add(int64(len(b)))
	}
}
