package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/capture"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// relayBufferSize is the read buffer per direction: PDUs up to this size (a full TLS record's
// worth of PDU with its headers) are relayed without a copy; larger ones (up to 64 KiB) go
// through a buffer that grows once.
const relayBufferSize = 20 << 10

// coalesceLimit bounds how many bytes of small PDUs that arrived together are written at once:
// one TLS record's payload.
const coalesceLimit = 16 << 10

// coalesceBuffers are shared by all relays; a session holds one only while it is writing a
// burst of small PDUs.
var coalesceBuffers = sync.Pool{New: func() any { b := make([]byte, 0, coalesceLimit); return &b }}

// Why a relay ended.
const (
	endClient     = "client_disconnected"
	endTarget     = "target_disconnected"
	endIdle       = "idle_timeout"
	endShutdown   = "shutdown"
	endProtocol   = "protocol_error"
	endActivation = "activation_timeout"
	endRecording  = "recording_failed"
)

// MCS Send Data header, as the relay peeks at it: after TPKT (4) and X.224 Data (3) comes the
// PER type byte (Send Data Request 0x64, Indication 0x68), the initiator (2), the channel id (2),
// the priority and segmentation byte, then the PER length of the data (1 or 2 bytes).
const (
	mcsTypeOffset      = 7
	mcsChannelOffset   = 10
	mcsSendDataHeader  = 13 // offset of the PER length
	mcsSendDataRequest = 25 << 2
	mcsSendDataInd     = 26 << 2
)

// relay moves PDUs both ways between client and target, applying the session's rules: the
// Client Info PDU gets the secret's credentials, channels the launcher forbids carry nothing,
// and the session becomes active when the target sends its Demand Active. It ends when a side
// ends, the session is idle for idleTimeout (0: never), activation takes longer than
// activationDeadline, or stop is closed; it closes both connections and says why.
type relay struct {
	client, target     net.Conn
	clientRaw          *batchConn // under client's TLS, nil in tests that relay plain conns
	targetRaw          *batchConn
	channels           *channels
	creds              *credentials
	tap                *tap // nil when not recorded; when set, what the client offers is rewritten so the recording can be rendered
	recordingRequired  bool // end the session when the recording fails
	idleTimeout        time.Duration
	activationDeadline time.Time
	onActive           func()
	stop               <-chan struct{}
	toTarget, toClient prometheus.Counter

	lastActivity atomic.Int64 // unix nanoseconds
	active       atomic.Bool
	infoSent     atomic.Bool
	protocolErr  atomic.Value // error
}

func (r *relay) run() (string, error) {
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
	go func() {
		defer wg.Done()
		end(r.pump(r.client, writerOf(r.target, r.targetRaw), r.toTarget, r.clientPDU, capture.ClientToTarget, endClient))
	}()
	go func() {
		defer wg.Done()
		end(r.pump(r.target, writerOf(r.client, r.clientRaw), r.toClient, r.targetPDU, capture.TargetToClient, endTarget))
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			err, _ := r.protocolErr.Load().(error)
			return reason, err
		case <-r.stop:
			end(endShutdown)
		case now := <-ticker.C:
			if !r.active.Load() && !r.activationDeadline.IsZero() && now.After(r.activationDeadline) {
				end(endActivation)
			}
			if r.idleTimeout > 0 && now.Sub(time.Unix(0, r.lastActivity.Load())) >= r.idleTimeout {
				end(endIdle)
			}
		}
	}
}

// batchedWriter writes through a TLS conn with its records sent together.
type batchedWriter struct {
	tls net.Conn
	raw *batchConn
}

func (w batchedWriter) Write(p []byte) (int, error) {
	if err := w.raw.writeBatched(w.tls, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func writerOf(conn net.Conn, raw *batchConn) io.Writer {
	if raw == nil {
		return conn
	}
	return batchedWriter{tls: conn, raw: raw}
}

// pdu rules for one direction: return the PDU to send (possibly rewritten), or nil to drop it.
// A pduRule returns what to relay (nil: nothing) and, when it differs, what to record (the
// Client Info without the injected password); record nil means record out.
type pduRule func(kind tpkt.Kind, b []byte) (out, record []byte, err error)

// pump relays PDUs from src to dst until an error; it returns sideEnded for EOF or a read or
// write error, endProtocol for a malformed PDU or a failed rewrite. Small PDUs that are already
// buffered together are written together (fewer TLS records and system calls); a PDU is never
// held back while the next one is still on its way.
func (r *relay) pump(src io.Reader, dst io.Writer, counter prometheus.Counter, rule pduRule, dir capture.Direction, sideEnded string) string {
	br := bufio.NewReaderSize(src, relayBufferSize)
	var big []byte
	var pending *[]byte
	flush := func() error {
		if pending == nil {
			return nil
		}
		buf := *pending
		_, err := dst.Write(buf)
		counter.Add(float64(len(buf)))
		*pending = buf[:0]
		coalesceBuffers.Put(pending)
		pending = nil
		return err
	}
	defer func() { _ = flush() }()
	for {
		kind, n, err := peekLength(br)
		if err != nil {
			if errors.Is(err, errFraming) {
				r.protocolErr.CompareAndSwap(nil, err)
				return endProtocol
			}
			return sideEnded
		}
		var b []byte
		inBuffer := n <= br.Size()
		if inBuffer {
			if b, err = br.Peek(n); err != nil {
				return sideEnded
			}
		} else {
			if cap(big) < n {
				big = make([]byte, n)
			}
			b = big[:n]
			if _, err := io.ReadFull(br, b); err != nil {
				return sideEnded
			}
		}
		r.lastActivity.Store(time.Now().UnixNano())
		out, record, err := rule(kind, b)
		if err != nil {
			r.protocolErr.CompareAndSwap(nil, err)
			return endProtocol
		}
		if record == nil {
			record = out
		}
		if out != nil && r.tap != nil && !r.tap.add(dir, kind, record) && r.recordingRequired {
			r.protocolErr.CompareAndSwap(nil, errors.New("the recorder could not keep up with the session"))
			return endRecording
		}
		if r.tap != nil && r.recordingRequired && r.tap.failed() != nil {
			r.protocolErr.CompareAndSwap(nil, r.tap.failed())
			return endRecording
		}
		if inBuffer {
			_, _ = br.Discard(n) // out may alias the buffer: it is used before the next read fills it
		}
		more := nextPDUBuffered(br)
		switch {
		case out == nil:
		case more && len(out) < coalesceLimit && (pending == nil || len(*pending)+len(out) <= coalesceLimit):
			if pending == nil {
				pending = coalesceBuffers.Get().(*[]byte)
			}
			*pending = append(*pending, out...)
		default:
			if err := flush(); err != nil {
				return sideEnded
			}
			if _, err := dst.Write(out); err != nil {
				return sideEnded
			}
			counter.Add(float64(len(out)))
		}
		if !more {
			if err := flush(); err != nil {
				return sideEnded
			}
		}
	}
}

// nextPDUBuffered reports whether a whole next PDU is already in br's buffer (so reading it
// will not block).
func nextPDUBuffered(br *bufio.Reader) bool {
	avail := br.Buffered()
	if avail < 2 {
		return false
	}
	hdr, _ := br.Peek(min(avail, tpkt.HeaderLen))
	var n int
	var err error
	switch tpkt.Detect(hdr[0]) {
	case tpkt.KindTPKT:
		if len(hdr) < tpkt.HeaderLen {
			return false
		}
		n, err = tpkt.FrameLength(hdr)
	case tpkt.KindFastPath:
		if hdr[1]&0x80 != 0 && len(hdr) < 3 {
			return false
		}
		n, _, err = tpkt.FastPathLength(hdr[:min(len(hdr), 3)])
	default:
		return true // let the next read report the framing error
	}
	return err != nil || n <= avail
}

// errFraming marks a byte stream that is not RDP PDUs.
var errFraming = errors.New("malformed PDU framing")

// peekLength reads the length of the next PDU (TPKT or fast-path) without consuming it. Read
// errors come back as they are; bad framing wraps errFraming.
func peekLength(br *bufio.Reader) (tpkt.Kind, int, error) {
	hdr, err := br.Peek(2)
	if err != nil {
		return tpkt.KindUnknown, 0, err
	}
	var n int
	kind := tpkt.Detect(hdr[0])
	switch kind {
	case tpkt.KindTPKT:
		h, err := br.Peek(tpkt.HeaderLen)
		if err != nil {
			return kind, 0, err
		}
		n, err = tpkt.FrameLength(h)
		if err != nil {
			return kind, 0, fmt.Errorf("%w: %w", errFraming, err)
		}
	case tpkt.KindFastPath:
		h, err := br.Peek(2)
		if err == nil && h[1]&0x80 != 0 {
			h, err = br.Peek(3)
		}
		if err != nil {
			return kind, 0, err
		}
		n, _, err = tpkt.FastPathLength(h)
		if err != nil {
			return kind, 0, fmt.Errorf("%w: %w", errFraming, err)
		}
	default:
		return kind, 0, fmt.Errorf("%w: neither TPKT nor fast-path (first byte %#02x)", errFraming, hdr[0])
	}
	return kind, n, nil
}

// sendDataChannel returns the channel of an MCS Send Data frame of the given type byte.
func sendDataChannel(b []byte, typ byte) (uint16, bool) {
	if len(b) < mcsSendDataHeader || b[4] != 0x02 || b[5] != 0xF0 || b[mcsTypeOffset]&^0x03 != typ {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[mcsChannelOffset:]), true
}

// clientPDU applies the rules to what the client sends.
func (r *relay) clientPDU(kind tpkt.Kind, b []byte) (out, record []byte, err error) {
	if kind != tpkt.KindTPKT {
		return b, nil, nil
	}
	ch, ok := sendDataChannel(b, mcsSendDataRequest)
	if !ok {
		return b, nil, nil
	}
	if _, blocked := r.channels.blocked[ch]; blocked {
		return nil, nil, nil
	}
	if r.tap != nil && ch == r.channels.io && r.infoSent.Load() {
		if typ, ok := shareControlType(b); ok && typ == pdu.PDUTypeConfirmActive {
			out, err := rewriteConfirmActive(b)
			if err != nil {
				return nil, nil, fmt.Errorf("rewrite the Confirm Active PDU: %w", err)
			}
			return out, nil, nil
		}
	}
	if ch == r.channels.io && !r.infoSent.Load() && isClientInfo(b) {
		out, record, err := rewriteClientInfo(b, r.creds, r.tap != nil)
		if err != nil {
			return nil, nil, fmt.Errorf("rewrite the Client Info PDU: %w", err)
		}
		r.infoSent.Store(true)
		r.creds.zero() // the password is needed once
		return out, record, nil
	}
	return b, nil, nil
}

// isClientInfo reports whether a Send Data Request carries a Client Info PDU (its basic security
// header has SEC_INFO_PKT).
func isClientInfo(b []byte) bool {
	i := mcsSendDataHeader + 1 // the PER length: one byte, or two when its top bit is set
	if i > len(b) {
		return false
	}
	if b[mcsSendDataHeader]&0x80 != 0 {
		i++
	}
	if i+2 > len(b) {
		return false
	}
	return binary.LittleEndian.Uint16(b[i:])&pdu.SecInfoPkt != 0
}

// targetPDU applies the rules to what the target sends.
func (r *relay) targetPDU(kind tpkt.Kind, b []byte) (out, record []byte, err error) {
	if kind == tpkt.KindFastPath {
		r.activate()
		return b, nil, nil
	}
	ch, ok := sendDataChannel(b, mcsSendDataInd)
	if !ok {
		return b, nil, nil
	}
	if _, blocked := r.channels.blocked[ch]; blocked {
		return nil, nil, nil
	}
	if ch == r.channels.io && !r.active.Load() {
		if typ, ok := shareControlType(b); ok && typ == pdu.PDUTypeDemandActive {
			r.activate()
		}
	}
	return b, nil, nil
}

func (r *relay) activate() {
	if r.infoSent.Load() && r.active.CompareAndSwap(false, true) && r.onActive != nil {
		go r.onActive() // a store write must not stall the relay
	}
}

// shareControlType returns the PDU type of the Share Control Header that an MCS Send Data
// frame carries, if it carries one.
func shareControlType(b []byte) (uint8, bool) {
	i := mcsSendDataHeader + 1
	if i > len(b) {
		return 0, false
	}
	if b[mcsSendDataHeader]&0x80 != 0 {
		i++
	}
	h, _, _, err := pdu.ParseShareControlHeader(b[min(i, len(b)):])
	if err != nil {
		return 0, false
	}
	return h.Type(), true
}
