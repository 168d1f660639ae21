package capture

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Magic starts every chunk.
const Magic = "SCRC"

// Version is the chunk format version this package writes and reads.
const Version = 1

// HeaderSize is the size of a chunk header in bytes.
const HeaderSize = 108

// Size limits. A Reader refuses anything larger.
const (
	// MaxPDUSize bounds one record's PDU (TPKT lengths are 16 bits, fast-path 15).
	MaxPDUSize = 1 << 16
	// ChunkTarget is the uncompressed size at which a Writer ends a chunk by itself.
	ChunkTarget = 1 << 20
	// MaxRawSize bounds a chunk's uncompressed body.
	MaxRawSize = ChunkTarget + recordHeaderSize + MaxPDUSize
	// MaxBodySize bounds a chunk's compressed body.
	MaxBodySize = MaxRawSize + MaxRawSize/8 + 1024
	// MaxChunkSize bounds a whole chunk, header and body.
	MaxChunkSize = HeaderSize + MaxBodySize
	// MaxRecords bounds the records of one chunk.
	MaxRecords = MaxRawSize / recordHeaderSize
)

// recordHeaderSize is the size of a record's fixed part: time (8), direction (1), kind (1),
// PDU length (4).
const recordHeaderSize = 14

// Direction tells which way a PDU went.
type Direction uint8

const (
	// ClientToTarget is a PDU the client sent.
	ClientToTarget Direction = 1
	// TargetToClient is a PDU the target sent.
	TargetToClient Direction = 2
)

func (d Direction) String() string {
	switch d {
	case ClientToTarget:
		return "client->target"
	case TargetToClient:
		return "target->client"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Kind is the framing of a PDU.
type Kind uint8

const (
	// KindTPKT is a TPKT frame (slow-path, X.224).
	KindTPKT Kind = 1
	// KindFastPath is a fast-path input or output PDU.
	KindFastPath Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindTPKT:
		return "TPKT"
	case KindFastPath:
		return "fast-path"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Record is one PDU of a session.
type Record struct {
	Time      time.Time
	Direction Direction
	Kind      Kind
	PDU       []byte
}

// ErrInvalid is wrapped by the errors of records that cannot be stored.
var ErrInvalid = errors.New("invalid record")

func (r *Record) validate() error {
	switch {
	case r.Direction != ClientToTarget && r.Direction != TargetToClient:
		return fmt.Errorf("%w: direction %d", ErrInvalid, r.Direction)
	case r.Kind != KindTPKT && r.Kind != KindFastPath:
		return fmt.Errorf("%w: kind %d", ErrInvalid, r.Kind)
	case len(r.PDU) == 0 || len(r.PDU) > MaxPDUSize:
		return fmt.Errorf("%w: PDU of %d bytes (1 to %d)", ErrInvalid, len(r.PDU), MaxPDUSize)
	case r.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalid)
	}
	return nil
}

// Hash is a SHA-256 digest.
type Hash [sha256.Size]byte

// ChunkInfo describes a chunk, as its header says.
type ChunkInfo struct {
	Seq      uint32    `json:"seq"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Records  uint32    `json:"records"`
	RawSize  uint32    `json:"rawSize"`
	Size     int64     `json:"size"`
	PrevHash Hash      `json:"-"`
	// SHA256 of the whole chunk (header and body), which the next chunk's header links to.
	SHA256 Hash `json:"-"`
}

// header is the fixed part of a chunk.
type header struct {
	seq, records      uint32
	first, last       int64
	rawLen, bodyLen   uint32
	prevHash, bodySum Hash
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func (h *header) marshal() []byte {
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[4:], Version)
	binary.LittleEndian.PutUint16(b[6:], HeaderSize)
	binary.LittleEndian.PutUint32(b[8:], h.seq)
	binary.LittleEndian.PutUint32(b[12:], h.records)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.first))
	binary.LittleEndian.PutUint64(b[24:], uint64(h.last))
	binary.LittleEndian.PutUint32(b[32:], h.rawLen)
	binary.LittleEndian.PutUint32(b[36:], h.bodyLen)
	copy(b[40:72], h.prevHash[:])
	copy(b[72:104], h.bodySum[:])
	binary.LittleEndian.PutUint32(b[104:], crc32.Checksum(b[:104], crcTable))
	return b
}

func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("short header: %d bytes", len(b))
	}
	if string(b[:4]) != Magic {
		return h, errors.New("bad magic")
	}
	if got, want := binary.LittleEndian.Uint32(b[104:]), crc32.Checksum(b[:104], crcTable); got != want {
		return h, errors.New("header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != Version {
		return h, fmt.Errorf("unsupported version %d", v)
	}
	if n := binary.LittleEndian.Uint16(b[6:]); n != HeaderSize {
		return h, fmt.Errorf("header size %d, want %d", n, HeaderSize)
	}
	h.seq = binary.LittleEndian.Uint32(b[8:])
	h.records = binary.LittleEndian.Uint32(b[12:])
	h.first = int64(binary.LittleEndian.Uint64(b[16:]))
	h.last = int64(binary.LittleEndian.Uint64(b[24:]))
	h.rawLen = binary.LittleEndian.Uint32(b[32:])
	h.bodyLen = binary.LittleEndian.Uint32(b[36:])
	copy(h.prevHash[:], b[40:72])
	copy(h.bodySum[:], b[72:104])
	switch {
	case h.records == 0 || h.records > MaxRecords:
		return h, fmt.Errorf("record count %d out of range", h.records)
	case h.rawLen > MaxRawSize:
		return h, fmt.Errorf("uncompressed size %d over %d", h.rawLen, MaxRawSize)
	case h.bodyLen == 0 || h.bodyLen > MaxBodySize:
		return h, fmt.Errorf("body size %d out of range", h.bodyLen)
	case h.last < h.first:
		return h, errors.New("last time before first")
	}
	return h, nil
}

// ChunkError is a chunk a Reader refused. Seq is the sequence number the chunk should have
// (its position in the chain), whatever its header says.
type ChunkError struct {
	Seq uint32
	Err error
}

func (e *ChunkError) Error() string { return fmt.Sprintf("recording chunk %d: %v", e.Seq, e.Err) }
func (e *ChunkError) Unwrap() error { return e.Err }
