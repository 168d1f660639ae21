// Package fastpath parses and builds the headers of RDP fast-path PDUs (MS-RDPBCGR 2.2.8.1.2
// and 2.2.9.1.2): the client's fast-path input PDU (TS_FP_INPUT_PDU) up to its event bytes,
// which package rdp/input decodes, and the server's fast-path output PDU (TS_FP_UPDATE_PDU)
// split into its updates (TS_FP_UPDATE) with their update codes, fragmentation and bulk
// compression flags.
//
// A proxy relays fast-path PDUs unchanged; a recorder taps them. Compressed updates
// (Update.Compressed) can only be decoded with the bulk decompressor's history of the whole
// stream (MPPC, NCRUSH or XCRUSH); a recorder that cannot follow that history must have the
// client's INFO_COMPRESSION cleared (see rdp/pdu).
//
// Only PDUs without standard RDP security encryption are supported, as with TLS or CredSSP;
// encrypted ones are refused with ErrUnsupported. Every parser checks its bounds and returns
// errors wrapping ErrMalformed; none panics. A PDU parsed and marshalled again yields the bytes
// it was parsed from, including the choice of a 1- or 2-byte length.
package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

var (
	// ErrMalformed wraps every parsing error.
	ErrMalformed = errors.New("fastpath: malformed PDU")
	// ErrInvalid wraps every error about a value that cannot be marshalled.
	ErrInvalid = errors.New("fastpath: invalid value")
	// ErrUnsupported wraps errors about PDUs this package cannot handle, such as encrypted ones.
	ErrUnsupported = errors.New("fastpath: unsupported")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Header flags (the two high bits of the first byte) of fast-path input and output PDUs.
const (
	FlagSecureChecksum uint8 = 0x1 // FASTPATH_INPUT_SECURE_CHECKSUM / FASTPATH_OUTPUT_SECURE_CHECKSUM
	FlagEncrypted      uint8 = 0x2 // FASTPATH_INPUT_ENCRYPTED / FASTPATH_OUTPUT_ENCRYPTED

	// MaxLength is the largest fast-path PDU, header included (15-bit length).
	MaxLength = tpkt.MaxFastPathLen
	// MaxInputEvents is the most events one fast-path input PDU can announce.
	MaxInputEvents = 255
)

// parseHeader checks the first byte's action and the length of a whole fast-path PDU and
// returns the header length (2 or 3) and whether the 2-byte form was used.
func parseHeader(pdu []byte, what string) (hdrLen int, long bool, err error) {
	total, hdrLen, err := tpkt.FastPathLength(pdu)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	if total != len(pdu) {
		return 0, false, malformed("%s: length field says %d bytes, PDU has %d", what, total, len(pdu))
	}
	if pdu[0]>>6&FlagEncrypted != 0 {
		return 0, false, fmt.Errorf("%w: %s: encrypted (standard RDP security)", ErrUnsupported, what)
	}
	return hdrLen, hdrLen == 3, nil
}

// appendHeader writes the first byte and the length for a body of bodyLen bytes: the 1-byte form
// when it fits and long is false, else the 2-byte form.
func appendHeader(dst []byte, first byte, long bool, bodyLen int) ([]byte, error) {
	if !long && 2+bodyLen <= 0x7F {
		return append(dst, first, byte(2+bodyLen)), nil
	}
	total := 3 + bodyLen
	if total > MaxLength {
		return nil, invalid("fast-path PDU of %d bytes, at most %d", total, MaxLength)
	}
	return append(dst, first, 0x80|byte(total>>8), byte(total)), nil
}

// InputPDU is a fast-path input PDU, TS_FP_INPUT_PDU (MS-RDPBCGR 2.2.8.1.2), with its events
// left encoded; package rdp/input decodes them.
type InputPDU struct {
	// Flags are the header's two flag bits (FlagSecureChecksum, FlagEncrypted).
	Flags uint8
	// NumEvents is the number of events, from the header or from the separate numEvents byte.
	NumEvents int
	// CountByte marks that NumEvents was sent in the separate numEvents byte (the header's
	// 4-bit field then being 0), as a client must for more than 15 events.
	CountByte bool
	// LongLength marks the 2-byte length form (FreeRDP uses it even for short PDUs).
	LongLength bool
	// Events holds the encoded fpInputEvents. It aliases the parsed input.
	Events []byte
}

// ParseInput parses a whole fast-path input PDU (as returned by tpkt.ReadPDU).
func ParseInput(pdu []byte) (*InputPDU, error) {
	hdrLen, long, err := parseHeader(pdu, "fast-path input")
	if err != nil {
		return nil, err
	}
	p := &InputPDU{Flags: pdu[0] >> 6, NumEvents: int(pdu[0] >> 2 & 0x0F), LongLength: long}
	body := pdu[hdrLen:]
	if p.NumEvents == 0 {
		if len(body) == 0 {
			return nil, malformed("fast-path input: numEvents byte missing")
		}
		p.NumEvents, p.CountByte, body = int(body[0]), true, body[1:]
	}
	p.Events = body
	return p, nil
}

// Marshal returns the PDU with its length recomputed.
func (p *InputPDU) Marshal() ([]byte, error) {
	if p == nil {
		return nil, invalid("nil InputPDU")
	}
	switch {
	case p.Flags > 3:
		return nil, invalid("fast-path input flags 0x%x do not fit 2 bits", p.Flags)
	case p.Flags&FlagEncrypted != 0:
		return nil, fmt.Errorf("%w: fast-path input: encryption", ErrUnsupported)
	case p.NumEvents < 0 || p.NumEvents > MaxInputEvents:
		return nil, invalid("fast-path input: %d events", p.NumEvents)
	case !p.CountByte && (p.NumEvents == 0 || p.NumEvents > 15):
		return nil, invalid("fast-path input: %d events need the numEvents byte", p.NumEvents)
	}
	first, bodyLen := p.Flags<<6, len(p.Events)
	if p.CountByte {
		bodyLen++
	} else {
		first |= byte(p.NumEvents) << 2
	}
	out, err := appendHeader(make([]byte, 0, 3+bodyLen), first, p.LongLength, bodyLen)
	if err != nil {
		return nil, err
	}
	if p.CountByte {
		out = append(out, byte(p.NumEvents))
	}
	return append(out, p.Events...), nil
}

// Update codes of TS_FP_UPDATE (MS-RDPBCGR 2.2.9.1.2.1).
const (
	UpdateOrders       uint8 = 0x0 // FASTPATH_UPDATETYPE_ORDERS
	UpdateBitmap       uint8 = 0x1 // FASTPATH_UPDATETYPE_BITMAP
	UpdatePalette      uint8 = 0x2 // FASTPATH_UPDATETYPE_PALETTE
	UpdateSynchronize  uint8 = 0x3 // FASTPATH_UPDATETYPE_SYNCHRONIZE
	UpdateSurfCmds     uint8 = 0x4 // FASTPATH_UPDATETYPE_SURFCMDS
	UpdatePtrNull      uint8 = 0x5 // FASTPATH_UPDATETYPE_PTR_NULL
	UpdatePtrDefault   uint8 = 0x6 // FASTPATH_UPDATETYPE_PTR_DEFAULT
	UpdatePtrPosition  uint8 = 0x8 // FASTPATH_UPDATETYPE_PTR_POSITION
	UpdateColor        uint8 = 0x9 // FASTPATH_UPDATETYPE_COLOR
	UpdateCached       uint8 = 0xA // FASTPATH_UPDATETYPE_CACHED
	UpdatePointer      uint8 = 0xB // FASTPATH_UPDATETYPE_POINTER
	UpdateLargePointer uint8 = 0xC // FASTPATH_UPDATETYPE_LARGE_POINTER
)

// Fragmentation values of TS_FP_UPDATE.
const (
	FragmentSingle uint8 = 0x0 // FASTPATH_FRAGMENT_SINGLE
	FragmentLast   uint8 = 0x1 // FASTPATH_FRAGMENT_LAST
	FragmentFirst  uint8 = 0x2 // FASTPATH_FRAGMENT_FIRST
	FragmentNext   uint8 = 0x3 // FASTPATH_FRAGMENT_NEXT
)

// Compression of TS_FP_UPDATE and the bulk compression flags of its compressionFlags byte
// (MS-RDPBCGR 2.2.9.1.2.1, 3.1.8.1).
const (
	// CompressionUsed in Update.Compression means that the compressionFlags byte is present.
	CompressionUsed uint8 = 0x2 // FASTPATH_OUTPUT_COMPRESSION_USED

	CompressionTypeMask uint8 = 0x0F // the PACKET_COMPR_TYPE_* value
	PacketCompressed    uint8 = 0x20 // PACKET_COMPRESSED
	PacketAtFront       uint8 = 0x40 // PACKET_AT_FRONT
	PacketFlushed       uint8 = 0x80 // PACKET_FLUSHED
)

// Update is one TS_FP_UPDATE.
type Update struct {
	// Code is the updateCode (an Update* value; unknown codes are kept).
	Code uint8
	// Fragmentation is a Fragment* value.
	Fragmentation uint8
	// Compression is the 2-bit compression field; CompressionUsed means CompressionFlags was
	// sent.
	Compression uint8
	// CompressionFlags is the compressionFlags byte: PacketCompressed and friends and the
	// compression type.
	CompressionFlags uint8
	// Data is updateData. It aliases the parsed input.
	Data []byte
}

// Compressed reports whether Data is bulk-compressed: a recorder cannot decode it without the
// decompressor's history.
func (u Update) Compressed() bool {
	return u.Compression == CompressionUsed && u.CompressionFlags&PacketCompressed != 0
}

// Name returns the update code's name.
func (u Update) Name() string { return UpdateName(u.Code) }

// UpdateName names a fast-path update code.
func UpdateName(code uint8) string {
	switch code {
	case UpdateOrders:
		return "Orders"
	case UpdateBitmap:
		return "Bitmap"
	case UpdatePalette:
		return "Palette"
	case UpdateSynchronize:
		return "Synchronize"
	case UpdateSurfCmds:
		return "SurfCmds"
	case UpdatePtrNull:
		return "PtrNull"
	case UpdatePtrDefault:
		return "PtrDefault"
	case UpdatePtrPosition:
		return "PtrPosition"
	case UpdateColor:
		return "ColorPointer"
	case UpdateCached:
		return "CachedPointer"
	case UpdatePointer:
		return "Pointer"
	case UpdateLargePointer:
		return "LargePointer"
	default:
		return fmt.Sprintf("update 0x%x", code)
	}
}

// OutputPDU is a fast-path output PDU, TS_FP_UPDATE_PDU (MS-RDPBCGR 2.2.9.1.2).
type OutputPDU struct {
	// Flags are the header's two flag bits (FlagSecureChecksum, FlagEncrypted).
	Flags uint8
	// Reserved is the header's 4 reserved bits, kept as sent.
	Reserved uint8
	// LongLength marks the 2-byte length form.
	LongLength bool
	Updates    []Update
}

// ParseOutput parses a whole fast-path output PDU (as returned by tpkt.ReadPDU) into its
// updates. A PDU with no update is accepted.
func ParseOutput(pdu []byte) (*OutputPDU, error) {
	hdrLen, long, err := parseHeader(pdu, "fast-path output")
	if err != nil {
		return nil, err
	}
	p := &OutputPDU{Flags: pdu[0] >> 6, Reserved: pdu[0] >> 2 & 0x0F, LongLength: long}
	b := pdu[hdrLen:]
	for len(b) > 0 {
		h := b[0]
		u := Update{Code: h & 0x0F, Fragmentation: h >> 4 & 0x3, Compression: h >> 6}
		n := 3
		if u.Compression == CompressionUsed {
			n = 4
		}
		if len(b) < n {
			return nil, malformed("fast-path output: update %d header needs %d bytes, %d left", len(p.Updates), n, len(b))
		}
		if n == 4 {
			u.CompressionFlags = b[1]
		}
		size := int(binary.LittleEndian.Uint16(b[n-2 : n]))
		if size > len(b)-n {
			return nil, malformed("fast-path output: update %d (%s) of %d bytes, %d left", len(p.Updates), u.Name(), size, len(b)-n)
		}
		u.Data = b[n : n+size : n+size]
		p.Updates = append(p.Updates, u)
		b = b[n+size:]
	}
	return p, nil
}

// Marshal returns the PDU with its length and every update size recomputed.
func (p *OutputPDU) Marshal() ([]byte, error) {
	if p == nil {
		return nil, invalid("nil OutputPDU")
	}
	switch {
	case p.Flags > 3 || p.Reserved > 0x0F:
		return nil, invalid("fast-path output header flags 0x%x / reserved 0x%x too wide", p.Flags, p.Reserved)
	case p.Flags&FlagEncrypted != 0:
		return nil, fmt.Errorf("%w: fast-path output: encryption", ErrUnsupported)
	}
	bodyLen := 0
	for i, u := range p.Updates {
		if u.Code > 0x0F || u.Fragmentation > 3 || u.Compression > 3 {
			return nil, invalid("fast-path update %d: code 0x%x, fragmentation %d, compression %d", i, u.Code, u.Fragmentation, u.Compression)
		}
		if u.Compression != CompressionUsed && u.CompressionFlags != 0 {
			return nil, invalid("fast-path update %d: compressionFlags 0x%02x without FASTPATH_OUTPUT_COMPRESSION_USED", i, u.CompressionFlags)
		}
		if len(u.Data) > 0xFFFF {
			return nil, invalid("fast-path update %d: %d bytes", i, len(u.Data))
		}
		bodyLen += 3 + len(u.Data)
		if u.Compression == CompressionUsed {
			bodyLen++
		}
	}
	if bodyLen > MaxLength {
		return nil, invalid("fast-path output of %d bytes, at most %d", bodyLen, MaxLength)
	}
	out, err := appendHeader(make([]byte, 0, 3+bodyLen), p.Flags<<6|p.Reserved<<2, p.LongLength, bodyLen)
	if err != nil {
		return nil, err
	}
	for _, u := range p.Updates {
		out = append(out, u.Compression<<6|u.Fragmentation<<4|u.Code)
		if u.Compression == CompressionUsed {
			out = append(out, u.CompressionFlags)
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(len(u.Data)))
		out = append(out, u.Data...)
	}
	return out, nil
}

// DefaultMaxUpdateSize bounds a reassembled update for a Defragmenter without a limit of its
// own. It is above the MaxRequestSize FreeRDP and mstsc announce (0x3F0000 and less).
const DefaultMaxUpdateSize = 4 << 20

// Defragmenter joins fragmented fast-path updates (FIRST, NEXT..., LAST) into one. It keeps at
// most one update in progress, as the server sends fragments of one update without others in
// between. The zero value uses DefaultMaxUpdateSize.
type Defragmenter struct {
	limit int
	code  uint8
	buf   []byte
	busy  bool
}

// NewDefragmenter returns a Defragmenter that refuses reassembled updates larger than limit
// bytes (the MaxRequestSize of the Multifragment Update capability set); limit <= 0 means
// DefaultMaxUpdateSize.
func NewDefragmenter(limit int) *Defragmenter {
	return &Defragmenter{limit: limit}
}

// Add takes the next update in stream order. It returns the complete update when u is a single
// update or the last fragment, and ok false while fragments are being collected. Compressed
// updates are refused with ErrUnsupported: they must be decompressed before reassembly.
func (d *Defragmenter) Add(u Update) (whole Update, ok bool, err error) {
	if u.Compressed() {
		return Update{}, false, fmt.Errorf("%w: compressed %s update", ErrUnsupported, u.Name())
	}
	switch u.Fragmentation {
	case FragmentSingle:
		if d.busy {
			d.reset()
			return Update{}, false, malformed("single %s update while a %s update was being reassembled", u.Name(), UpdateName(d.code))
		}
		return u, true, nil
	case FragmentFirst:
		if d.busy {
			d.reset()
			return Update{}, false, malformed("first fragment of %s while a %s update was being reassembled", u.Name(), UpdateName(d.code))
		}
		d.busy, d.code = true, u.Code
		return Update{}, false, d.append(u.Data)
	default: // next or last
		if !d.busy || u.Code != d.code {
			code := d.code
			d.reset()
			return Update{}, false, malformed("fragment of %s without a first fragment (reassembling %s)", u.Name(), UpdateName(code))
		}
		if err := d.append(u.Data); err != nil {
			return Update{}, false, err
		}
		if u.Fragmentation == FragmentNext {
			return Update{}, false, nil
		}
		whole = Update{Code: d.code, Data: slices.Clone(d.buf)}
		d.reset()
		return whole, true, nil
	}
}

func (d *Defragmenter) append(b []byte) error {
	limit := d.limit
	if limit <= 0 {
		limit = DefaultMaxUpdateSize
	}
	if len(d.buf)+len(b) > limit {
		code := d.code
		d.reset()
		return malformed("reassembled %s update exceeds %d bytes", UpdateName(code), limit)
	}
	d.buf = append(d.buf, b...)
	return nil
}

func (d *Defragmenter) reset() {
	d.busy, d.code, d.buf = false, 0, d.buf[:0]
}
