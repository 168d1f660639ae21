package pdu

import (
	"encoding/binary"
	"fmt"
)

// Capability set types (MS-RDPBCGR 2.2.1.13.1.1.1 capabilitySetType, MS-RDPEGDI 2.2.1.1).
const (
	CapsTypeGeneral                uint16 = 0x0001 // CAPSTYPE_GENERAL
	CapsTypeBitmap                 uint16 = 0x0002 // CAPSTYPE_BITMAP
	CapsTypeOrder                  uint16 = 0x0003 // CAPSTYPE_ORDER
	CapsTypeBitmapCache            uint16 = 0x0004 // CAPSTYPE_BITMAPCACHE
	CapsTypeControl                uint16 = 0x0005 // CAPSTYPE_CONTROL
	CapsTypeBitmapCacheV3CodecID   uint16 = 0x0006 // CAPSTYPE_BITMAPCACHE_V3_CODEC_ID
	CapsTypeActivation             uint16 = 0x0007 // CAPSTYPE_ACTIVATION
	CapsTypePointer                uint16 = 0x0008 // CAPSTYPE_POINTER
	CapsTypeShare                  uint16 = 0x0009 // CAPSTYPE_SHARE
	CapsTypeColorCache             uint16 = 0x000A // CAPSTYPE_COLORCACHE
	CapsTypeSound                  uint16 = 0x000C // CAPSTYPE_SOUND
	CapsTypeInput                  uint16 = 0x000D // CAPSTYPE_INPUT
	CapsTypeFont                   uint16 = 0x000E // CAPSTYPE_FONT
	CapsTypeBrush                  uint16 = 0x000F // CAPSTYPE_BRUSH
	CapsTypeGlyphCache             uint16 = 0x0010 // CAPSTYPE_GLYPHCACHE
	CapsTypeOffscreenCache         uint16 = 0x0011 // CAPSTYPE_OFFSCREENCACHE
	CapsTypeBitmapCacheHostSupport uint16 = 0x0012 // CAPSTYPE_BITMAPCACHE_HOSTSUPPORT
	CapsTypeBitmapCacheRev2        uint16 = 0x0013 // CAPSTYPE_BITMAPCACHE_REV2
	CapsTypeVirtualChannel         uint16 = 0x0014 // CAPSTYPE_VIRTUALCHANNEL
	CapsTypeDrawNineGridCache      uint16 = 0x0015 // CAPSTYPE_DRAWNINEGRIDCACHE
	CapsTypeDrawGDIPlus            uint16 = 0x0016 // CAPSTYPE_DRAWGDIPLUS
	CapsTypeRail                   uint16 = 0x0017 // CAPSTYPE_RAIL
	CapsTypeWindow                 uint16 = 0x0018 // CAPSTYPE_WINDOW
	CapsTypeCompDesk               uint16 = 0x0019 // CAPSETTYPE_COMPDESK
	CapsTypeMultifragmentUpdate    uint16 = 0x001A // CAPSETTYPE_MULTIFRAGMENTUPDATE
	CapsTypeLargePointer           uint16 = 0x001B // CAPSETTYPE_LARGE_POINTER
	CapsTypeSurfaceCommands        uint16 = 0x001C // CAPSETTYPE_SURFACE_COMMANDS
	CapsTypeBitmapCodecs           uint16 = 0x001D // CAPSETTYPE_BITMAP_CODECS
	CapsTypeFrameAcknowledge       uint16 = 0x001E // CAPSSETTYPE_FRAME_ACKNOWLEDGE

	capabilityHeaderLength = 4
)

// CapabilitySet is one TS_CAPS_SET: its type and the bytes after its 4-byte header
// (capabilitySetType, lengthCapability). Sets of unknown types are kept byte for byte.
type CapabilitySet struct {
	Type uint16
	Data []byte
}

// CapabilitySets is the ordered list of capability sets of a Demand or Confirm Active PDU.
type CapabilitySets []CapabilitySet

// CapsTypeName names a capability set type.
func CapsTypeName(t uint16) string {
	switch t {
	case CapsTypeGeneral:
		return "General"
	case CapsTypeBitmap:
		return "Bitmap"
	case CapsTypeOrder:
		return "Order"
	case CapsTypeBitmapCache:
		return "BitmapCache"
	case CapsTypeControl:
		return "Control"
	case CapsTypeBitmapCacheV3CodecID:
		return "BitmapCacheV3CodecID"
	case CapsTypeActivation:
		return "Activation"
	case CapsTypePointer:
		return "Pointer"
	case CapsTypeShare:
		return "Share"
	case CapsTypeColorCache:
		return "ColorCache"
	case CapsTypeSound:
		return "Sound"
	case CapsTypeInput:
		return "Input"
	case CapsTypeFont:
		return "Font"
	case CapsTypeBrush:
		return "Brush"
	case CapsTypeGlyphCache:
		return "GlyphCache"
	case CapsTypeOffscreenCache:
		return "OffscreenCache"
	case CapsTypeBitmapCacheHostSupport:
		return "BitmapCacheHostSupport"
	case CapsTypeBitmapCacheRev2:
		return "BitmapCacheRev2"
	case CapsTypeVirtualChannel:
		return "VirtualChannel"
	case CapsTypeDrawNineGridCache:
		return "DrawNineGridCache"
	case CapsTypeDrawGDIPlus:
		return "DrawGDIPlus"
	case CapsTypeRail:
		return "Rail"
	case CapsTypeWindow:
		return "Window"
	case CapsTypeCompDesk:
		return "CompDesk"
	case CapsTypeMultifragmentUpdate:
		return "MultifragmentUpdate"
	case CapsTypeLargePointer:
		return "LargePointer"
	case CapsTypeSurfaceCommands:
		return "SurfaceCommands"
	case CapsTypeBitmapCodecs:
		return "BitmapCodecs"
	case CapsTypeFrameAcknowledge:
		return "FrameAcknowledge"
	default:
		return fmt.Sprintf("0x%04x", t)
	}
}

// parseCapabilitySets reads exactly n sets that together fill b.
func parseCapabilitySets(b []byte, n int) (CapabilitySets, error) {
	// Each set takes at least 4 bytes: bound the allocation by the input.
	if n > len(b)/capabilityHeaderLength {
		return nil, malformed("numberCapabilities %d cannot fit in %d bytes", n, len(b))
	}
	sets := make(CapabilitySets, 0, n)
	r := reader{b: b}
	for i := range n {
		t := r.u16("capabilitySetType")
		l := int(r.u16("lengthCapability"))
		if r.err != nil {
			return nil, fmt.Errorf("capability set %d: %w", i, r.err)
		}
		if l < capabilityHeaderLength {
			return nil, malformed("capability set %d (%s): lengthCapability %d is shorter than its header", i, CapsTypeName(t), l)
		}
		data := r.take(l-capabilityHeaderLength, "capabilityData")
		if r.err != nil {
			return nil, fmt.Errorf("capability set %d (%s): %w", i, CapsTypeName(t), r.err)
		}
		sets = append(sets, CapabilitySet{Type: t, Data: clone(data)})
	}
	if r.left() != 0 {
		return nil, malformed("%d bytes after %d capability sets inside lengthCombinedCapabilities", r.left(), n)
	}
	return sets, nil
}

// size returns the encoded length of the sets, without numberCapabilities and padding.
func (cs CapabilitySets) size() (int, error) {
	n := 0
	for i, s := range cs {
		l := capabilityHeaderLength + len(s.Data)
		if l > 0xFFFF {
			return 0, invalid("capability set %d (%s) of %d bytes does not fit lengthCapability", i, CapsTypeName(s.Type), l)
		}
		n += l
	}
	return n, nil
}

func (cs CapabilitySets) append(dst []byte) []byte {
	for _, s := range cs {
		dst = le16(dst, s.Type)
		dst = le16(dst, uint16(capabilityHeaderLength+len(s.Data)))
		dst = append(dst, s.Data...)
	}
	return dst
}

// Index returns the index of the first set of type t, or -1.
func (cs CapabilitySets) Index(t uint16) int {
	for i, s := range cs {
		if s.Type == t {
			return i
		}
	}
	return -1
}

// Get returns the first set of type t.
func (cs CapabilitySets) Get(t uint16) (CapabilitySet, bool) {
	if i := cs.Index(t); i >= 0 {
		return cs[i], true
	}
	return CapabilitySet{}, false
}

// Put replaces the first set of s.Type with s, or appends s when there is none.
func (cs *CapabilitySets) Put(s CapabilitySet) {
	if i := cs.Index(s.Type); i >= 0 {
		(*cs)[i] = s
		return
	}
	*cs = append(*cs, s)
}

// Remove deletes every set of type t and returns how many it removed.
func (cs *CapabilitySets) Remove(t uint16) int {
	kept := (*cs)[:0]
	for _, s := range *cs {
		if s.Type != t {
			kept = append(kept, s)
		}
	}
	n := len(*cs) - len(kept)
	clear((*cs)[len(kept):])
	*cs = kept
	return n
}

// Types lists the set types in order.
func (cs CapabilitySets) Types() []uint16 {
	ts := make([]uint16, len(cs))
	for i, s := range cs {
		ts[i] = s.Type
	}
	return ts
}

// capView reads and writes fixed-offset fields of a capability set's data. Writes go to a copy,
// so a set is never modified through a slice it shares with its parsed input.
type capView struct {
	name string
	data []byte
}

func newCapView(name string, data []byte, minLen int) (capView, error) {
	if len(data) < minLen {
		return capView{}, malformed("%s capability set has %d data bytes, want at least %d", name, len(data), minLen)
	}
	return capView{name: name, data: data}, nil
}

func (v capView) u8(off int) uint8   { return v.data[off] }
func (v capView) u16(off int) uint16 { return binary.LittleEndian.Uint16(v.data[off:]) }
func (v capView) u32(off int) uint32 { return binary.LittleEndian.Uint32(v.data[off:]) }

// out returns a copy of raw at least minLen long, to write a typed set's fields into. Bytes the
// typed struct does not model (padding, later fields) come from raw unchanged.
func out(raw []byte, minLen int) []byte {
	b := make([]byte, max(len(raw), minLen))
	copy(b, raw)
	return b
}

func put16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// General capability set extraFlags (MS-RDPBCGR 2.2.7.1.1).
const (
	FastPathOutputSupported  uint16 = 0x0001 // FASTPATH_OUTPUT_SUPPORTED
	LongCredentialsSupported uint16 = 0x0004 // LONG_CREDENTIALS_SUPPORTED
	AutoReconnectSupported   uint16 = 0x0008 // AUTORECONNECT_SUPPORTED
	EncSaltedChecksum        uint16 = 0x0010 // ENC_SALTED_CHECKSUM
	NoBitmapCompressionHdr   uint16 = 0x0400 // NO_BITMAP_COMPRESSION_HDR

	generalCapLen = 20
)

// GeneralCapability is TS_GENERAL_CAPABILITYSET (MS-RDPBCGR 2.2.7.1.1). Padding and any bytes
// after the known fields are kept from the parsed set.
type GeneralCapability struct {
	OSMajorType           uint16
	OSMinorType           uint16
	ProtocolVersion       uint16
	CompressionTypes      uint16 // generalCompressionTypes, must be 0
	ExtraFlags            uint16
	UpdateCapabilityFlag  uint16
	RemoteUnshareFlag     uint16
	CompressionLevel      uint16 // generalCompressionLevel, must be 0
	RefreshRectSupport    uint8
	SuppressOutputSupport uint8
	raw                   []byte
}

// ParseGeneralCapability decodes the data of a General capability set.
func ParseGeneralCapability(data []byte) (*GeneralCapability, error) {
	v, err := newCapView("General", data, generalCapLen)
	if err != nil {
		return nil, err
	}
	return &GeneralCapability{
		OSMajorType: v.u16(0), OSMinorType: v.u16(2), ProtocolVersion: v.u16(4),
		CompressionTypes: v.u16(8), ExtraFlags: v.u16(10), UpdateCapabilityFlag: v.u16(12),
		RemoteUnshareFlag: v.u16(14), CompressionLevel: v.u16(16),
		RefreshRectSupport: v.u8(18), SuppressOutputSupport: v.u8(19), raw: clone(data),
	}, nil
}

// Capability encodes the set.
func (g *GeneralCapability) Capability() CapabilitySet {
	b := out(g.raw, generalCapLen)
	put16(b, 0, g.OSMajorType)
	put16(b, 2, g.OSMinorType)
	put16(b, 4, g.ProtocolVersion)
	put16(b, 8, g.CompressionTypes)
	put16(b, 10, g.ExtraFlags)
	put16(b, 12, g.UpdateCapabilityFlag)
	put16(b, 14, g.RemoteUnshareFlag)
	put16(b, 16, g.CompressionLevel)
	b[18], b[19] = g.RefreshRectSupport, g.SuppressOutputSupport
	return CapabilitySet{Type: CapsTypeGeneral, Data: b}
}

const bitmapCapLen = 24

// BitmapCapability is TS_BITMAP_CAPABILITYSET (MS-RDPBCGR 2.2.7.1.2).
type BitmapCapability struct {
	PreferredBitsPerPixel    uint16
	Receive1BitPerPixel      uint16
	Receive4BitsPerPixel     uint16
	Receive8BitsPerPixel     uint16
	DesktopWidth             uint16
	DesktopHeight            uint16
	DesktopResizeFlag        uint16
	BitmapCompressionFlag    uint16
	HighColorFlags           uint8
	DrawingFlags             uint8
	MultipleRectangleSupport uint16
	raw                      []byte
}

// ParseBitmapCapability decodes the data of a Bitmap capability set.
func ParseBitmapCapability(data []byte) (*BitmapCapability, error) {
	v, err := newCapView("Bitmap", data, bitmapCapLen)
	if err != nil {
		return nil, err
	}
	return &BitmapCapability{
		PreferredBitsPerPixel: v.u16(0), Receive1BitPerPixel: v.u16(2), Receive4BitsPerPixel: v.u16(4),
		Receive8BitsPerPixel: v.u16(6), DesktopWidth: v.u16(8), DesktopHeight: v.u16(10),
		DesktopResizeFlag: v.u16(14), BitmapCompressionFlag: v.u16(16), HighColorFlags: v.u8(18),
		DrawingFlags: v.u8(19), MultipleRectangleSupport: v.u16(20), raw: clone(data),
	}, nil
}

// Capability encodes the set.
func (c *BitmapCapability) Capability() CapabilitySet {
	b := out(c.raw, bitmapCapLen)
	put16(b, 0, c.PreferredBitsPerPixel)
	put16(b, 2, c.Receive1BitPerPixel)
	put16(b, 4, c.Receive4BitsPerPixel)
	put16(b, 6, c.Receive8BitsPerPixel)
	put16(b, 8, c.DesktopWidth)
	put16(b, 10, c.DesktopHeight)
	put16(b, 14, c.DesktopResizeFlag)
	put16(b, 16, c.BitmapCompressionFlag)
	b[18], b[19] = c.HighColorFlags, c.DrawingFlags
	put16(b, 20, c.MultipleRectangleSupport)
	return CapabilitySet{Type: CapsTypeBitmap, Data: b}
}

// Order capability set orderFlags and orderSupportExFlags (MS-RDPBCGR 2.2.7.1.3).
const (
	OrderFlagNegotiateOrderSupport   uint16 = 0x0002 // NEGOTIATEORDERSUPPORT
	OrderFlagZeroBoundsDeltasSupport uint16 = 0x0008 // ZEROBOUNDSDELTASSUPPORT
	OrderFlagColorIndexSupport       uint16 = 0x0020 // COLORINDEXSUPPORT
	OrderFlagSolidPatternBrushOnly   uint16 = 0x0040 // SOLIDPATTERNBRUSHONLY
	OrderFlagExtraFlags              uint16 = 0x0080 // ORDERFLAGS_EXTRA_FLAGS

	OrderExCacheBitmapRev3Support   uint16 = 0x0002 // CACHE_BITMAP_REV3_SUPPORT
	OrderExAltsecFrameMarkerSupport uint16 = 0x0004 // ALTSEC_FRAME_MARKER_SUPPORT

	orderCapLen = 84
)

// Indexes into OrderCapability.OrderSupport (MS-RDPBCGR 2.2.7.1.3).
const (
	OrderDstBlt            = 0x00 // TS_NEG_DSTBLT_INDEX
	OrderPatBlt            = 0x01 // TS_NEG_PATBLT_INDEX
	OrderScrBlt            = 0x02 // TS_NEG_SCRBLT_INDEX
	OrderMemBlt            = 0x03 // TS_NEG_MEMBLT_INDEX
	OrderMem3Blt           = 0x04 // TS_NEG_MEM3BLT_INDEX
	OrderDrawNineGrid      = 0x07 // TS_NEG_DRAWNINEGRID_INDEX
	OrderLineTo            = 0x08 // TS_NEG_LINETO_INDEX
	OrderMultiDrawNineGrid = 0x09 // TS_NEG_MULTI_DRAWNINEGRID_INDEX
	OrderSaveBitmap        = 0x0B // TS_NEG_SAVEBITMAP_INDEX
	OrderMultiDstBlt       = 0x0F // TS_NEG_MULTIDSTBLT_INDEX
	OrderMultiPatBlt       = 0x10 // TS_NEG_MULTIPATBLT_INDEX
	OrderMultiScrBlt       = 0x11 // TS_NEG_MULTISCRBLT_INDEX
	OrderMultiOpaqueRect   = 0x12 // TS_NEG_MULTIOPAQUERECT_INDEX
	OrderFastIndex         = 0x13 // TS_NEG_FAST_INDEX_INDEX
	OrderPolygonSC         = 0x14 // TS_NEG_POLYGON_SC_INDEX
	OrderPolygonCB         = 0x15 // TS_NEG_POLYGON_CB_INDEX
	OrderPolyline          = 0x16 // TS_NEG_POLYLINE_INDEX
	OrderFastGlyph         = 0x18 // TS_NEG_FAST_GLYPH_INDEX
	OrderEllipseSC         = 0x19 // TS_NEG_ELLIPSE_SC_INDEX
	OrderEllipseCB         = 0x1A // TS_NEG_ELLIPSE_CB_INDEX
	OrderGlyphIndex        = 0x1B // TS_NEG_INDEX_INDEX
)

// OrderCapability is TS_ORDER_CAPABILITYSET (MS-RDPBCGR 2.2.7.1.3).
type OrderCapability struct {
	TerminalDescriptor      [16]byte
	DesktopSaveXGranularity uint16
	DesktopSaveYGranularity uint16
	MaximumOrderLevel       uint16
	NumberFonts             uint16
	OrderFlags              uint16
	// OrderSupport has one byte per primary drawing order; non-zero means supported.
	OrderSupport        [32]byte
	TextFlags           uint16
	OrderSupportExFlags uint16
	DesktopSaveSize     uint32
	TextANSICodePage    uint16
	raw                 []byte
}

// ParseOrderCapability decodes the data of an Order capability set.
func ParseOrderCapability(data []byte) (*OrderCapability, error) {
	v, err := newCapView("Order", data, orderCapLen)
	if err != nil {
		return nil, err
	}
	c := &OrderCapability{
		DesktopSaveXGranularity: v.u16(20), DesktopSaveYGranularity: v.u16(22),
		MaximumOrderLevel: v.u16(26), NumberFonts: v.u16(28), OrderFlags: v.u16(30),
		TextFlags: v.u16(64), OrderSupportExFlags: v.u16(66), DesktopSaveSize: v.u32(72),
		TextANSICodePage: v.u16(80), raw: clone(data),
	}
	copy(c.TerminalDescriptor[:], data[0:16])
	copy(c.OrderSupport[:], data[32:64])
	return c, nil
}

// DisableOrders marks every primary drawing order unsupported and clears the extended order
// flags (bitmap cache rev3 and frame marker), so that a server sends plain bitmap updates.
func (c *OrderCapability) DisableOrders() {
	c.OrderSupport = [32]byte{}
	c.OrderSupportExFlags = 0
}

// OrdersEnabled reports whether any primary drawing order or extended order flag is enabled.
func (c *OrderCapability) OrdersEnabled() bool {
	return c.OrderSupport != [32]byte{} || c.OrderSupportExFlags != 0
}

// Capability encodes the set.
func (c *OrderCapability) Capability() CapabilitySet {
	b := out(c.raw, orderCapLen)
	copy(b[0:16], c.TerminalDescriptor[:])
	put16(b, 20, c.DesktopSaveXGranularity)
	put16(b, 22, c.DesktopSaveYGranularity)
	put16(b, 26, c.MaximumOrderLevel)
	put16(b, 28, c.NumberFonts)
	put16(b, 30, c.OrderFlags)
	copy(b[32:64], c.OrderSupport[:])
	put16(b, 64, c.TextFlags)
	put16(b, 66, c.OrderSupportExFlags)
	put32(b, 72, c.DesktopSaveSize)
	put16(b, 80, c.TextANSICodePage)
	return CapabilitySet{Type: CapsTypeOrder, Data: b}
}

// Bitmap codec GUIDs (MS-RDPBCGR 2.2.7.2.10.1.1), as 16-byte strings in wire byte order, to
// compare with string(codec.GUID[:]).
const (
	CodecGUIDNSCodec       = "\xb9\x1b\x8d\xca\x0f\x00\x4f\x15\x58\x9f\xae\x2d\x1a\x87\xe2\xd6" // CA8D1BB9-000F-154F-589F-AE2D1A87E2D6
	CodecGUIDRemoteFX      = "\x12\x2f\x77\x76\x72\xbd\x63\x44\xaf\xb3\xb7\x3c\x9c\x6f\x78\x86" // 76772F12-BD72-4463-AFB3-B73C9C6F7886
	CodecGUIDImageRemoteFX = "\xd4\xcc\x44\x27\x8a\x9d\x74\x4e\x80\x3c\x0e\xcb\xee\xa1\x9c\x54" // 2744CCD4-9D8A-4E74-803C-0ECBEEA19C54
	CodecGUIDIgnore        = "\xa6\x51\x43\x9c\x35\x35\xae\x42\x91\x0c\xcd\xfc\xe5\x76\x0b\x58" // 9C4351A6-3535-42AE-910C-CDFCE5760B58
	CodecGUIDJPEG          = "\xe6\x4c\xaf\x1b\xed\x9e\x0c\x43\x86\x9a\xcb\x8b\x37\xb6\x62\x37" // 1BAF4CE6-9EED-430C-869A-CB8B37B66237
)

// BitmapCodec is TS_BITMAPCODEC (MS-RDPBCGR 2.2.7.2.10.1.1).
type BitmapCodec struct {
	// GUID is codecGUID in wire byte order (see the CodecGUID* values).
	GUID       [16]byte
	ID         uint8
	Properties []byte
}

// Name returns the codec's name when its GUID is known, else the GUID.
func (c BitmapCodec) Name() string {
	switch string(c.GUID[:]) {
	case CodecGUIDNSCodec:
		return "NSCodec"
	case CodecGUIDRemoteFX:
		return "RemoteFX"
	case CodecGUIDImageRemoteFX:
		return "RemoteFX-Image"
	case CodecGUIDIgnore:
		return "Ignore"
	case CodecGUIDJPEG:
		return "JPEG"
	}
	g := c.GUID
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:4]),
		binary.LittleEndian.Uint16(g[4:6]), binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// BitmapCodecsCapability is TS_BITMAPCODECS_CAPABILITYSET (MS-RDPBCGR 2.2.7.2.10).
type BitmapCodecsCapability struct {
	Codecs []BitmapCodec
	// Trailing holds bytes after the last codec, kept byte for byte.
	Trailing []byte
}

// ParseBitmapCodecsCapability decodes the data of a Bitmap Codecs capability set.
func ParseBitmapCodecsCapability(data []byte) (*BitmapCodecsCapability, error) {
	r := reader{b: data}
	n := int(r.u8("bitmapCodecCount"))
	if r.err != nil {
		return nil, fmt.Errorf("BitmapCodecs capability set: %w", r.err)
	}
	c := &BitmapCodecsCapability{}
	for i := range n {
		var codec BitmapCodec
		copy(codec.GUID[:], r.take(16, "codecGUID"))
		codec.ID = r.u8("codecID")
		l := int(r.u16("codecPropertiesLength"))
		codec.Properties = clone(r.take(l, "codecProperties"))
		if r.err != nil {
			return nil, fmt.Errorf("BitmapCodecs capability set: codec %d: %w", i, r.err)
		}
		c.Codecs = append(c.Codecs, codec)
	}
	c.Trailing = clone(r.rest())
	return c, nil
}

// DisableCodecs removes every codec (bitmapCodecCount 0), so that the server sends no
// RemoteFX, NSCodec or other codec-encoded bitmaps.
func (c *BitmapCodecsCapability) DisableCodecs() {
	c.Codecs, c.Trailing = nil, nil
}

// Capability encodes the set; it fails when a count or length does not fit its field.
func (c *BitmapCodecsCapability) Capability() (CapabilitySet, error) {
	if len(c.Codecs) > 0xFF {
		return CapabilitySet{}, invalid("%d bitmap codecs, at most 255", len(c.Codecs))
	}
	b := []byte{byte(len(c.Codecs))}
	for _, codec := range c.Codecs {
		if len(codec.Properties) > 0xFFFF {
			return CapabilitySet{}, invalid("bitmap codec %s has %d property bytes", codec.Name(), len(codec.Properties))
		}
		b = append(b, codec.GUID[:]...)
		b = append(b, codec.ID)
		b = le16(b, uint16(len(codec.Properties)))
		b = append(b, codec.Properties...)
	}
	return CapabilitySet{Type: CapsTypeBitmapCodecs, Data: append(b, c.Trailing...)}, nil
}

// Surface command flags (MS-RDPBCGR 2.2.7.2.9).
const (
	SurfCmdsSetSurfaceBits    uint32 = 0x00000002 // SURFCMDS_SET_SURFACE_BITS
	SurfCmdsFrameMarker       uint32 = 0x00000010 // SURFCMDS_FRAME_MARKER
	SurfCmdsStreamSurfaceBits uint32 = 0x00000040 // SURFCMDS_STREAM_SURFACE_BITS

	surfaceCommandsCapLen = 8
)

// SurfaceCommandsCapability is TS_SURFCMDS_CAPABILITYSET (MS-RDPBCGR 2.2.7.2.9).
type SurfaceCommandsCapability struct {
	CmdFlags uint32
	Reserved uint32
	raw      []byte
}

// ParseSurfaceCommandsCapability decodes the data of a Surface Commands capability set.
func ParseSurfaceCommandsCapability(data []byte) (*SurfaceCommandsCapability, error) {
	v, err := newCapView("SurfaceCommands", data, surfaceCommandsCapLen)
	if err != nil {
		return nil, err
	}
	return &SurfaceCommandsCapability{CmdFlags: v.u32(0), Reserved: v.u32(4), raw: clone(data)}, nil
}

// Disable clears cmdFlags, so that the server sends no surface commands.
func (c *SurfaceCommandsCapability) Disable() { c.CmdFlags = 0 }

// Capability encodes the set.
func (c *SurfaceCommandsCapability) Capability() CapabilitySet {
	b := out(c.raw, surfaceCommandsCapLen)
	put32(b, 0, c.CmdFlags)
	put32(b, 4, c.Reserved)
	return CapabilitySet{Type: CapsTypeSurfaceCommands, Data: b}
}

// Large pointer support flags (MS-RDPBCGR 2.2.7.2.7).
const (
	LargePointerFlag96x96   uint16 = 0x0001 // LARGE_POINTER_FLAG_96x96
	LargePointerFlag384x384 uint16 = 0x0002 // LARGE_POINTER_FLAG_384x384
)

// LargePointerCapability is TS_LARGE_POINTER_CAPABILITYSET (MS-RDPBCGR 2.2.7.2.7).
type LargePointerCapability struct {
	SupportFlags uint16
	raw          []byte
}

// ParseLargePointerCapability decodes the data of a Large Pointer capability set.
func ParseLargePointerCapability(data []byte) (*LargePointerCapability, error) {
	v, err := newCapView("LargePointer", data, 2)
	if err != nil {
		return nil, err
	}
	return &LargePointerCapability{SupportFlags: v.u16(0), raw: clone(data)}, nil
}

// Capability encodes the set.
func (c *LargePointerCapability) Capability() CapabilitySet {
	b := out(c.raw, 2)
	put16(b, 0, c.SupportFlags)
	return CapabilitySet{Type: CapsTypeLargePointer, Data: b}
}

// MultifragmentUpdateCapability is TS_MULTIFRAGMENTUPDATE_CAPABILITYSET (MS-RDPBCGR 2.2.7.2.6).
type MultifragmentUpdateCapability struct {
	MaxRequestSize uint32
	raw            []byte
}

// ParseMultifragmentUpdateCapability decodes the data of a Multifragment Update capability set.
func ParseMultifragmentUpdateCapability(data []byte) (*MultifragmentUpdateCapability, error) {
	v, err := newCapView("MultifragmentUpdate", data, 4)
	if err != nil {
		return nil, err
	}
	return &MultifragmentUpdateCapability{MaxRequestSize: v.u32(0), raw: clone(data)}, nil
}

// Capability encodes the set.
func (c *MultifragmentUpdateCapability) Capability() CapabilitySet {
	b := out(c.raw, 4)
	put32(b, 0, c.MaxRequestSize)
	return CapabilitySet{Type: CapsTypeMultifragmentUpdate, Data: b}
}

// RecordingChanges reports what RestrictForRecording changed.
type RecordingChanges struct {
	// OrdersDisabled: the Order set had primary orders or extended order flags enabled.
	OrdersDisabled bool
	// BitmapCodecsRemoved counts the codecs dropped from the Bitmap Codecs set.
	BitmapCodecsRemoved int
	// SurfaceCommandsDisabled: the Surface Commands set had a non-zero cmdFlags.
	SurfaceCommandsDisabled bool
	// SupportLevelsCleared lists the sets whose support level was set to none: GlyphCache,
	// OffscreenCache, DrawNineGridCache, DrawGDIPlus.
	SupportLevelsCleared []string
}

// Changed reports whether anything was changed.
func (c RecordingChanges) Changed() bool {
	return c.OrdersDisabled || c.BitmapCodecsRemoved > 0 || c.SurfaceCommandsDisabled || len(c.SupportLevelsCleared) > 0
}

// supportLevel returns the offset and size of the support level field that makes a server send
// drawing orders or cached glyphs rather than bitmaps, for the set types that have one.
func supportLevel(t uint16) (offset, size int, ok bool) {
	switch t {
	case CapsTypeGlyphCache:
		return 44, 2, true // glyphSupportLevel -> GLYPH_SUPPORT_NONE
	case CapsTypeOffscreenCache:
		return 0, 4, true // offscreenSupportLevel -> FALSE
	case CapsTypeDrawNineGridCache:
		return 0, 4, true // drawNineGridSupportLevel -> DRAW_NINEGRID_NO_SUPPORT
	case CapsTypeDrawGDIPlus:
		return 0, 4, true // drawGDIPlusSupportLevel -> TS_DRAW_GDIPLUS_DEFAULT
	}
	return 0, 0, false
}

// RestrictForRecording rewrites a client's capability sets (those of its Confirm Active) so that
// the server sends only output a recorder can decode on its own: no primary drawing orders and
// no extended orders (Order set), no bitmap codecs such as RemoteFX or NSCodec (bitmapCodecCount
// 0), no surface commands (cmdFlags 0), and no glyph cache, offscreen cache, DrawNineGrid or
// GDI+ support. Sets it does not mention, and sets that are absent, are left as they are; a set
// too short to hold the field to rewrite is an error, and then cs is unchanged.
//
// Bulk compression is negotiated in the Client Info PDU (see ClientInfo.DisableCompression) and
// the graphics pipeline in the MCS Connect Initial; neither is touched here.
func (cs *CapabilitySets) RestrictForRecording() (RecordingChanges, error) {
	var ch RecordingChanges
	next := append(CapabilitySets(nil), (*cs)...)
	for i, s := range next {
		switch s.Type {
		case CapsTypeOrder:
			o, err := ParseOrderCapability(s.Data)
			if err != nil {
				return RecordingChanges{}, err
			}
			if o.OrdersEnabled() {
				ch.OrdersDisabled = true
				o.DisableOrders()
				next[i] = o.Capability()
			}
		case CapsTypeBitmapCodecs:
			c, err := ParseBitmapCodecsCapability(s.Data)
			if err != nil {
				return RecordingChanges{}, err
			}
			if len(c.Codecs) > 0 || len(c.Trailing) > 0 {
				ch.BitmapCodecsRemoved += len(c.Codecs)
				c.DisableCodecs()
				if next[i], err = c.Capability(); err != nil {
					return RecordingChanges{}, err
				}
			}
		case CapsTypeSurfaceCommands:
			c, err := ParseSurfaceCommandsCapability(s.Data)
			if err != nil {
				return RecordingChanges{}, err
			}
			if c.CmdFlags != 0 {
				ch.SurfaceCommandsDisabled = true
				c.Disable()
				next[i] = c.Capability()
			}
		default:
			off, size, ok := supportLevel(s.Type)
			if !ok {
				continue
			}
			v, err := newCapView(CapsTypeName(s.Type), s.Data, off+size)
			if err != nil {
				return RecordingChanges{}, err
			}
			var cur uint32
			if size == 2 {
				cur = uint32(v.u16(off))
			} else {
				cur = v.u32(off)
			}
			if cur != 0 {
				b := clone(s.Data)
				clear(b[off : off+size])
				next[i] = CapabilitySet{Type: s.Type, Data: b}
				ch.SupportLevelsCleared = append(ch.SupportLevelsCleared, CapsTypeName(s.Type))
			}
		}
	}
	*cs = next
	return ch, nil
}
