package pdu

import (
	"fmt"
	"slices"
)

// Share Control Header PDU types (MS-RDPBCGR 2.2.8.1.1.1.1, the low 4 bits of pduType).
const (
	PDUTypeDemandActive  uint8 = 0x1 // PDUTYPE_DEMANDACTIVEPDU
	PDUTypeConfirmActive uint8 = 0x3 // PDUTYPE_CONFIRMACTIVEPDU
	PDUTypeDeactivateAll uint8 = 0x6 // PDUTYPE_DEACTIVATEALLPDU
	PDUTypeData          uint8 = 0x7 // PDUTYPE_DATAPDU
	PDUTypeServerRedir   uint8 = 0xA // PDUTYPE_SERVER_REDIR_PKT

	// ProtocolVersion is TS_PROTOCOL_VERSION, in the upper 12 bits of pduType.
	ProtocolVersion uint16 = 0x0010

	// flowMarker in place of totalLength starts a flow control PDU (MS-RDPBCGR 2.2.8.1.1.1.1).
	flowMarker = 0x8000

	shareControlHeaderLength      = 6
	shortShareControlHeaderLength = 4
	shareDataHeaderLength         = 12
)

// Share Data Header pduType2 values (MS-RDPBCGR 2.2.8.1.1.1.2).
const (
	PDUType2Update                    uint8 = 0x02 // PDUTYPE2_UPDATE
	PDUType2Control                   uint8 = 0x14 // PDUTYPE2_CONTROL
	PDUType2Pointer                   uint8 = 0x1B // PDUTYPE2_POINTER
	PDUType2Input                     uint8 = 0x1C // PDUTYPE2_INPUT
	PDUType2Synchronize               uint8 = 0x1F // PDUTYPE2_SYNCHRONIZE
	PDUType2RefreshRect               uint8 = 0x21 // PDUTYPE2_REFRESH_RECT
	PDUType2PlaySound                 uint8 = 0x22 // PDUTYPE2_PLAY_SOUND
	PDUType2SuppressOutput            uint8 = 0x23 // PDUTYPE2_SUPPRESS_OUTPUT
	PDUType2ShutdownRequest           uint8 = 0x24 // PDUTYPE2_SHUTDOWN_REQUEST
	PDUType2ShutdownDenied            uint8 = 0x25 // PDUTYPE2_SHUTDOWN_DENIED
	PDUType2SaveSessionInfo           uint8 = 0x26 // PDUTYPE2_SAVE_SESSION_INFO
	PDUType2FontList                  uint8 = 0x27 // PDUTYPE2_FONTLIST
	PDUType2FontMap                   uint8 = 0x28 // PDUTYPE2_FONTMAP
	PDUType2SetKeyboardIndicators     uint8 = 0x29 // PDUTYPE2_SET_KEYBOARD_INDICATORS
	PDUType2BitmapCachePersistentList uint8 = 0x2B // PDUTYPE2_BITMAPCACHE_PERSISTENT_LIST
	PDUType2BitmapCacheError          uint8 = 0x2C // PDUTYPE2_BITMAPCACHE_ERROR_PDU
	PDUType2SetKeyboardIMEStatus      uint8 = 0x2D // PDUTYPE2_SET_KEYBOARD_IME_STATUS
	PDUType2OffscreenCacheError       uint8 = 0x2E // PDUTYPE2_OFFSCRCACHE_ERROR_PDU
	PDUType2SetErrorInfo              uint8 = 0x2F // PDUTYPE2_SET_ERROR_INFO_PDU
	PDUType2DrawNineGridError         uint8 = 0x30 // PDUTYPE2_DRAWNINEGRID_ERROR_PDU
	PDUType2DrawGDIPlusError          uint8 = 0x31 // PDUTYPE2_DRAWGDIPLUS_ERROR_PDU
	PDUType2ARCStatus                 uint8 = 0x32 // PDUTYPE2_ARC_STATUS_PDU
	PDUType2StatusInfo                uint8 = 0x36 // PDUTYPE2_STATUS_INFO_PDU
	PDUType2MonitorLayout             uint8 = 0x37 // PDUTYPE2_MONITOR_LAYOUT_PDU
	PDUType2FrameAcknowledge          uint8 = 0x38 // PDUTYPE2_FRAME_ACKNOWLEDGE_PDU (MS-RDPRFX)
)

// Stream priorities of the Share Data Header.
const (
	StreamUndefined uint8 = 0x00 // STREAM_UNDEFINED
	StreamLow       uint8 = 0x01 // STREAM_LOW
	StreamMed       uint8 = 0x02 // STREAM_MED
	StreamHi        uint8 = 0x04 // STREAM_HI
)

// Bulk compression flags of the Share Data Header's compressedType and of the fast-path
// compressionFlags (MS-RDPBCGR 2.2.8.1.1.1.2); the low bits carry a PacketComprType* value.
const (
	CompressionTypeMask uint8 = 0x0F // CompressionTypeMask
	PacketCompressed    uint8 = 0x20 // PACKET_COMPRESSED
	PacketAtFront       uint8 = 0x40 // PACKET_AT_FRONT
	PacketFlushed       uint8 = 0x80 // PACKET_FLUSHED
)

// ShareControlHeader is TS_SHARECONTROLHEADER (MS-RDPBCGR 2.2.8.1.1.1.1).
type ShareControlHeader struct {
	// TotalLength is the PDU length, header included, as parsed; Append recomputes it.
	TotalLength uint16
	// PDUType is the whole pduType field: the type in its low 4 bits (see Type), the protocol
	// version (ProtocolVersion) above.
	PDUType uint16
	// PDUSource is the MCS channel ID of the sender.
	PDUSource uint16
	// NoSource marks the 4-byte form without pduSource (totalLength 4), which Windows XP sends
	// as Deactivate All.
	NoSource bool
}

// Type returns the PDU type (a PDUType* value).
func (h ShareControlHeader) Type() uint8 { return uint8(h.PDUType & 0x0F) }

// Len returns the length of the header itself: 6, or 4 when NoSource.
func (h ShareControlHeader) Len() int {
	if h.NoSource {
		return shortShareControlHeaderLength
	}
	return shareControlHeaderLength
}

// ParseShareControlHeader reads a Share Control Header at the start of b. It returns the header,
// the body (the bytes after the header up to totalLength) and the bytes after the PDU, both
// aliasing b. A flow control PDU (totalLength 0x8000) is refused with ErrUnsupported.
func ParseShareControlHeader(b []byte) (h ShareControlHeader, body, rest []byte, err error) {
	if len(b) < 2 {
		return h, nil, nil, malformed("share control header needs at least %d bytes, have %d", shortShareControlHeaderLength, len(b))
	}
	r := reader{b: b}
	h.TotalLength = r.u16("totalLength")
	switch n := int(h.TotalLength); {
	case n == flowMarker:
		return ShareControlHeader{}, nil, nil, wrapUnsupported("flow control PDU")
	case n < shortShareControlHeaderLength || n == shortShareControlHeaderLength+1:
		return ShareControlHeader{}, nil, nil, malformed("share control totalLength %d cannot hold the header", n)
	case n > len(b):
		return ShareControlHeader{}, nil, nil, malformed("share control totalLength %d, only %d bytes", n, len(b))
	}
	h.PDUType = r.u16("pduType")
	if h.TotalLength == shortShareControlHeaderLength {
		h.NoSource = true
	} else {
		h.PDUSource = r.u16("pduSource")
	}
	if r.err != nil {
		return ShareControlHeader{}, nil, nil, r.err
	}
	return h, b[h.Len():h.TotalLength:h.TotalLength], b[h.TotalLength:], nil
}

// Append appends the header for a body of bodyLen bytes, with totalLength computed from it.
func (h ShareControlHeader) Append(dst []byte, bodyLen int) ([]byte, error) {
	total := h.Len() + bodyLen
	switch {
	case bodyLen < 0 || total > 0xFFFF || total == flowMarker:
		return dst, invalid("share control PDU of %d bytes does not fit totalLength", total)
	case h.NoSource && bodyLen != 0:
		return dst, invalid("share control header without pduSource cannot carry a body")
	}
	dst = le16(dst, uint16(total))
	dst = le16(dst, h.PDUType)
	if !h.NoSource {
		dst = le16(dst, h.PDUSource)
	}
	return dst, nil
}

// ShareDataHeader is the part of TS_SHAREDATAHEADER after the Share Control Header
// (MS-RDPBCGR 2.2.8.1.1.1.2).
type ShareDataHeader struct {
	ShareID  uint32
	Pad1     uint8
	StreamID uint8
	// UncompressedLength is kept as sent; implementations disagree on what it counts (FreeRDP
	// sends the payload length, xrdp the whole PDU).
	UncompressedLength uint16
	PDUType2           uint8
	// CompressedType holds the bulk compression flags (PacketCompressed, PacketAtFront,
	// PacketFlushed) and type (CompressionTypeMask).
	CompressedType   uint8
	CompressedLength uint16
}

// Compressed reports whether the payload is bulk-compressed (PACKET_COMPRESSED).
func (h ShareDataHeader) Compressed() bool { return h.CompressedType&PacketCompressed != 0 }

// ParseShareDataHeader reads the Share Data Header at the start of the body of a data PDU and
// returns it with the payload that follows (aliasing body).
func ParseShareDataHeader(body []byte) (ShareDataHeader, []byte, error) {
	if len(body) < shareDataHeaderLength {
		return ShareDataHeader{}, nil, malformed("share data header needs %d bytes, have %d", shareDataHeaderLength, len(body))
	}
	r := reader{b: body}
	h := ShareDataHeader{
		ShareID:            r.u32("shareId"),
		Pad1:               r.u8("pad1"),
		StreamID:           r.u8("streamId"),
		UncompressedLength: r.u16("uncompressedLength"),
		PDUType2:           r.u8("pduType2"),
		CompressedType:     r.u8("compressedType"),
		CompressedLength:   r.u16("compressedLength"),
	}
	return h, r.rest(), nil
}

// Append appends the header to dst.
func (h ShareDataHeader) Append(dst []byte) []byte {
	dst = le32(dst, h.ShareID)
	dst = append(dst, h.Pad1, h.StreamID)
	dst = le16(dst, h.UncompressedLength)
	dst = append(dst, h.PDUType2, h.CompressedType)
	return le16(dst, h.CompressedLength)
}

// SharePDU is one PDU behind a Share Control Header: Demand Active, Confirm Active, Deactivate
// All, a data PDU or a server redirection.
type SharePDU struct {
	Control ShareControlHeader
	// Data is the Share Data Header of a data PDU (Control.Type() == PDUTypeData), else nil.
	Data *ShareDataHeader
	// Payload is what follows the headers. It aliases the parsed input.
	Payload []byte
}

// ParseSharePDU reads one PDU at the start of b and returns it with the bytes after it
// (aliasing b); an MCS Send Data PDU may carry several.
func ParseSharePDU(b []byte) (*SharePDU, []byte, error) {
	h, body, rest, err := ParseShareControlHeader(b)
	if err != nil {
		return nil, nil, err
	}
	p := &SharePDU{Control: h, Payload: body}
	if h.Type() == PDUTypeData {
		d, payload, err := ParseShareDataHeader(body)
		if err != nil {
			return nil, nil, err
		}
		p.Data, p.Payload = &d, payload
	}
	return p, rest, nil
}

// ParseSharePDUs splits b, the user data of an MCS Send Data PDU on the I/O channel after the
// licensing phase, into the Share Control PDUs it holds.
func ParseSharePDUs(b []byte) ([]*SharePDU, error) {
	var pdus []*SharePDU
	for len(b) > 0 {
		p, rest, err := ParseSharePDU(b)
		if err != nil {
			return nil, fmt.Errorf("share PDU %d: %w", len(pdus), err)
		}
		pdus = append(pdus, p)
		b = rest
	}
	if len(pdus) == 0 {
		return nil, malformed("no share control PDU in an empty buffer")
	}
	return pdus, nil
}

// Append appends the PDU to dst, recomputing totalLength. The Share Data Header's length fields
// are written as set.
func (p *SharePDU) Append(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil SharePDU")
	}
	isData := p.Control.Type() == PDUTypeData
	if isData != (p.Data != nil) {
		return dst, invalid("share PDU of type %d with share data header %t", p.Control.Type(), p.Data != nil)
	}
	bodyLen := len(p.Payload)
	if isData {
		bodyLen += shareDataHeaderLength
	}
	dst = slices.Grow(dst, p.Control.Len()+bodyLen)
	dst, err := p.Control.Append(dst, bodyLen)
	if err != nil {
		return dst, err
	}
	if isData {
		dst = p.Data.Append(dst)
	}
	return append(dst, p.Payload...), nil
}

// Name returns a short name of the PDU, such as "Demand Active" or "Data/Synchronize".
func (p *SharePDU) Name() string {
	if p == nil {
		return "nil"
	}
	if p.Data != nil {
		return "Data/" + PDUType2Name(p.Data.PDUType2)
	}
	return PDUTypeName(p.Control.Type())
}

// PDUTypeName names a Share Control Header PDU type.
func PDUTypeName(t uint8) string {
	switch t {
	case PDUTypeDemandActive:
		return "Demand Active"
	case PDUTypeConfirmActive:
		return "Confirm Active"
	case PDUTypeDeactivateAll:
		return "Deactivate All"
	case PDUTypeData:
		return "Data"
	case PDUTypeServerRedir:
		return "Server Redirection"
	default:
		return fmt.Sprintf("PDU type 0x%x", t)
	}
}

// PDUType2Name names a Share Data Header pduType2.
func PDUType2Name(t uint8) string {
	switch t {
	case PDUType2Update:
		return "Update"
	case PDUType2Control:
		return "Control"
	case PDUType2Pointer:
		return "Pointer"
	case PDUType2Input:
		return "Input"
	case PDUType2Synchronize:
		return "Synchronize"
	case PDUType2RefreshRect:
		return "Refresh Rect"
	case PDUType2PlaySound:
		return "Play Sound"
	case PDUType2SuppressOutput:
		return "Suppress Output"
	case PDUType2ShutdownRequest:
		return "Shutdown Request"
	case PDUType2ShutdownDenied:
		return "Shutdown Denied"
	case PDUType2SaveSessionInfo:
		return "Save Session Info"
	case PDUType2FontList:
		return "Font List"
	case PDUType2FontMap:
		return "Font Map"
	case PDUType2SetKeyboardIndicators:
		return "Set Keyboard Indicators"
	case PDUType2BitmapCachePersistentList:
		return "Persistent Key List"
	case PDUType2BitmapCacheError:
		return "Bitmap Cache Error"
	case PDUType2SetKeyboardIMEStatus:
		return "Set Keyboard IME Status"
	case PDUType2OffscreenCacheError:
		return "Offscreen Cache Error"
	case PDUType2SetErrorInfo:
		return "Set Error Info"
	case PDUType2DrawNineGridError:
		return "DrawNineGrid Error"
	case PDUType2DrawGDIPlusError:
		return "DrawGDI+ Error"
	case PDUType2ARCStatus:
		return "Auto-Reconnect Status"
	case PDUType2StatusInfo:
		return "Status Info"
	case PDUType2MonitorLayout:
		return "Monitor Layout"
	case PDUType2FrameAcknowledge:
		return "Frame Acknowledge"
	default:
		return fmt.Sprintf("pduType2 0x%02x", t)
	}
}
