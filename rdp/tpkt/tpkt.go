// Package tpkt implements TPKT framing (RFC 1006 as used by MS-RDPBCGR 2.2.1.1 and later
// slow-path PDUs) and tells TPKT frames apart from RDP fast-path PDUs by their first byte.
//
// A TPKT frame is a 4-byte header (version 3, a reserved byte, a big-endian 16-bit length that
// counts the header) followed by the payload. Fast-path PDUs (MS-RDPBCGR 2.2.8.1.2 and 2.2.9.1.2)
// share the connection after the connection sequence; their first byte carries an action code of
// 0 in its two low bits, while a TPKT frame starts with 0x03 (action 3, FASTPATH_*_ACTION_X224).
//
// Every function checks its bounds and returns an error on any input; none panics.
package tpkt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// Version is the only TPKT version (first header byte).
	Version = 3
	// HeaderLen is the length of the TPKT header.
	HeaderLen = 4
	// MaxFrameLen is the largest frame the 16-bit length field can describe, header included.
	MaxFrameLen = 0xFFFF
	// MaxPayloadLen is the largest payload a single frame can carry.
	MaxPayloadLen = MaxFrameLen - HeaderLen

	// MaxFastPathLen is the largest fast-path PDU its 15-bit length field can describe.
	MaxFastPathLen = 0x7FFF
)

var (
	// ErrVersion reports a first byte other than 3 where a TPKT header was expected.
	ErrVersion = errors.New("tpkt: unsupported version")
	// ErrLength reports a length field that cannot describe a valid frame or that does not
	// match the bytes given.
	ErrLength = errors.New("tpkt: invalid length")
	// ErrTooLarge reports a frame longer than the caller's limit or than the 16-bit field allows.
	ErrTooLarge = errors.New("tpkt: frame too large")
	// ErrUnknownPDU reports a first byte that starts neither a TPKT frame nor a fast-path PDU.
	ErrUnknownPDU = errors.New("tpkt: neither TPKT nor fast-path")
)

// Kind is the framing of a PDU, as told by its first byte.
type Kind uint8

const (
	// KindUnknown is neither TPKT nor fast-path.
	KindUnknown Kind = iota
	// KindTPKT is a TPKT frame (slow-path, X.224).
	KindTPKT
	// KindFastPath is a fast-path input or output PDU.
	KindFastPath
)

// String returns a short lowercase name of the kind.
func (k Kind) String() string {
	switch k {
	case KindTPKT:
		return "tpkt"
	case KindFastPath:
		return "fast-path"
	default:
		return "unknown"
	}
}

// Detect classifies a PDU by its first byte: 0x03 is TPKT; a byte whose two low bits (the
// fast-path action) are 0 is fast-path; anything else is unknown.
func Detect(first byte) Kind {
	switch {
	case first == Version:
		return KindTPKT
	case first&0x03 == 0:
		return KindFastPath
	default:
		return KindUnknown
	}
}

// FrameLength validates a TPKT header (at least its first HeaderLen bytes) and returns the
// total frame length it announces, header included.
func FrameLength(hdr []byte) (int, error) {
	if len(hdr) < HeaderLen {
		return 0, fmt.Errorf("%w: header needs %d bytes, have %d", ErrLength, HeaderLen, len(hdr))
	}
	if hdr[0] != Version {
		return 0, fmt.Errorf("%w: 0x%02x", ErrVersion, hdr[0])
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if n < HeaderLen {
		return 0, fmt.Errorf("%w: length %d shorter than the header", ErrLength, n)
	}
	return n, nil
}

// Payload validates a whole TPKT frame (its length field must equal len(frame)) and returns its
// payload, which aliases frame.
func Payload(frame []byte) ([]byte, error) {
	n, err := FrameLength(frame)
	if err != nil {
		return nil, err
	}
	if n != len(frame) {
		return nil, fmt.Errorf("%w: header says %d bytes, frame has %d", ErrLength, n, len(frame))
	}
	return frame[HeaderLen:], nil
}

// ReadFrame reads one TPKT frame from r and returns it whole, header included.
//
// maxSize bounds the frame length (header included); a value <= 0 or above MaxFrameLen means
// MaxFrameLen. The length is checked before the body is allocated. At a clean frame boundary
// (no byte read) it returns io.EOF unwrapped; a frame cut short returns an error wrapping
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, maxSize int) ([]byte, error) {
	if maxSize <= 0 || maxSize > MaxFrameLen {
		maxSize = MaxFrameLen
	}
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("tpkt: read header: %w", err)
	}
	n, err := FrameLength(hdr[:])
	if err != nil {
		return nil, err
	}
	if n > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, maxSize)
	}
	frame := make([]byte, n)
	copy(frame, hdr[:])
	if _, err := io.ReadFull(r, frame[HeaderLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("tpkt: read %d-byte body: %w", n-HeaderLen, err)
	}
	return frame, nil
}

// Append appends a TPKT frame carrying payload to dst and returns the extended slice. It fails
// when the payload does not fit in one frame.
func Append(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayloadLen {
		return dst, fmt.Errorf("%w: payload of %d bytes, at most %d fit", ErrTooLarge, len(payload), MaxPayloadLen)
	}
	n := len(payload) + HeaderLen
	dst = append(dst, Version, 0, byte(n>>8), byte(n))
	return append(dst, payload...), nil
}

// FastPathLength decodes the header of a fast-path PDU: the first byte (action in its two low
// bits, which must be 0) and a 1- or 2-byte length (PER-style: when the high bit of the first
// length byte is set, the length is 15 bits over two bytes). It returns the total PDU length,
// header included, and the header length (2 or 3). hdr must hold at least the header.
func FastPathLength(hdr []byte) (total, hdrLen int, err error) {
	if len(hdr) < 2 {
		return 0, 0, fmt.Errorf("%w: fast-path header needs at least 2 bytes, have %d", ErrLength, len(hdr))
	}
	if Detect(hdr[0]) != KindFastPath {
		return 0, 0, fmt.Errorf("%w: first byte 0x%02x is not fast-path", ErrUnknownPDU, hdr[0])
	}
	if hdr[1]&0x80 == 0 {
		total, hdrLen = int(hdr[1]), 2
	} else {
		if len(hdr) < 3 {
			return 0, 0, fmt.Errorf("%w: fast-path header needs 3 bytes, have %d", ErrLength, len(hdr))
		}
		total, hdrLen = int(hdr[1]&0x7F)<<8|int(hdr[2]), 3
	}
	if total < hdrLen {
		return 0, 0, fmt.Errorf("%w: fast-path length %d shorter than its %d-byte header", ErrLength, total, hdrLen)
	}
	return total, hdrLen, nil
}

// ReadPDU reads one PDU of either framing from r: a TPKT frame or a fast-path PDU, told apart by
// the first byte. It returns the kind and the whole PDU, header included. maxSize and the EOF
// behaviour are as for ReadFrame.
func ReadPDU(r io.Reader, maxSize int) (Kind, []byte, error) {
	if maxSize <= 0 || maxSize > MaxFrameLen {
		maxSize = MaxFrameLen
	}
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		if errors.Is(err, io.EOF) {
			return KindUnknown, nil, io.EOF
		}
		return KindUnknown, nil, fmt.Errorf("tpkt: read header: %w", err)
	}
	var (
		kind         = Detect(hdr[0])
		total, have  int
		headerNeeded int
	)
	switch kind {
	case KindTPKT:
		headerNeeded = HeaderLen
	case KindFastPath:
		headerNeeded = 2
		if hdr[1]&0x80 != 0 {
			headerNeeded = 3
		}
	default:
		return KindUnknown, nil, fmt.Errorf("%w: first byte 0x%02x", ErrUnknownPDU, hdr[0])
	}
	have = 2
	if headerNeeded > have {
		if _, err := io.ReadFull(r, hdr[have:headerNeeded]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return kind, nil, fmt.Errorf("tpkt: read %s header: %w", kind, err)
		}
		have = headerNeeded
	}
	var err error
	if kind == KindTPKT {
		total, err = FrameLength(hdr[:have])
	} else {
		total, _, err = FastPathLength(hdr[:have])
	}
	if err != nil {
		return kind, nil, err
	}
	if total > maxSize {
		return kind, nil, fmt.Errorf("%w: %s PDU of %d bytes, limit %d", ErrTooLarge, kind, total, maxSize)
	}
	pdu := make([]byte, total)
	copy(pdu, hdr[:have])
	if _, err := io.ReadFull(r, pdu[have:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return kind, nil, fmt.Errorf("tpkt: read %d-byte %s body: %w", total-have, kind, err)
	}
	return kind, pdu, nil
}
