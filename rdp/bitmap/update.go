package bitmap

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
)

// Update types (MS-RDPBCGR 2.2.9.1.1.3.1): the first field of a slow-path Update PDU's payload
// and of the updateData of the matching fast-path updates.
const (
	UpdateTypeBitmap  uint16 = 0x0001 // UPDATETYPE_BITMAP
	UpdateTypePalette uint16 = 0x0002 // UPDATETYPE_PALETTE
)

// Flags of TS_BITMAP_DATA.
const (
	// FlagCompression marks compressed data: Interleaved RLE below 32 bpp, RDP 6.0 planar at 32.
	FlagCompression uint16 = 0x0001 // BITMAP_COMPRESSION
	// FlagNoCompressionHeader marks compressed data sent without a TS_CD_HEADER.
	FlagNoCompressionHeader uint16 = 0x0400 // NO_BITMAP_COMPRESSION_HDR
)

const (
	bitmapDataFixedLen = 18 // TS_BITMAP_DATA up to bitmapLength
	cdHeaderLen        = 8  // TS_CD_HEADER
)

// CompressedDataHeader is TS_CD_HEADER (MS-RDPBCGR 2.2.9.1.1.3.1.2.3), kept as sent. Decode does
// not rely on it: the rectangle's width, height and colour depth describe the bitmap.
type CompressedDataHeader struct {
	FirstRowSize     uint16 // cbCompFirstRowSize, 0
	MainBodySize     uint16 // cbCompMainBodySize: the size of Rectangle.Data
	ScanWidth        uint16 // cbScanWidth: width × bytes per pixel
	UncompressedSize uint16 // cbUncompressedSize: height × ScanWidth
}

// Rectangle is one TS_BITMAP_DATA of a bitmap update.
type Rectangle struct {
	// DestLeft, DestTop, DestRight and DestBottom are the screen area, bounds included.
	DestLeft, DestTop, DestRight, DestBottom uint16
	// Width and Height are the bitmap's size in pixels, which may exceed the destination.
	Width, Height uint16
	// BitsPerPixel is the colour depth: 8, 15, 16, 24 or 32.
	BitsPerPixel uint16
	// Flags are FlagCompression and FlagNoCompressionHeader.
	Flags uint16
	// Header is the Compressed Data Header when one was sent, else nil.
	Header *CompressedDataHeader
	// Data is the bitmap data stream, compressed or raw, without the Compressed Data Header. In
	// a parsed Rectangle it aliases the parsed input.
	Data []byte
}

// Compressed reports whether Data is compressed (FlagCompression).
func (r Rectangle) Compressed() bool { return r.Flags&FlagCompression != 0 }

// Dest returns the screen area the decoded image covers: the destination rectangle (whose bounds
// are inclusive) clipped to the bitmap's size. It is empty when the destination bounds are
// reversed.
func (r Rectangle) Dest() image.Rectangle {
	w, h := r.clippedSize()
	if w <= 0 || h <= 0 {
		return image.Rectangle{}
	}
	x, y := int(r.DestLeft), int(r.DestTop)
	return image.Rect(x, y, x+w, y+h)
}

// clippedSize is the size of the decoded image: the bitmap's size clipped to the destination.
// It is not positive when the destination is reversed.
func (r Rectangle) clippedSize() (w, h int) {
	w = min(int(r.Width), int(r.DestRight)-int(r.DestLeft)+1)
	h = min(int(r.Height), int(r.DestBottom)-int(r.DestTop)+1)
	return w, h
}

func (r Rectangle) String() string {
	kind := "raw"
	if r.Compressed() {
		kind = "compressed"
	}
	return fmt.Sprintf("bitmap %dx%d %dbpp %s (%d bytes) at (%d,%d)-(%d,%d)", r.Width, r.Height,
		r.BitsPerPixel, kind, len(r.Data), r.DestLeft, r.DestTop, r.DestRight, r.DestBottom)
}

// ParseBitmapUpdate parses TS_UPDATE_BITMAP_DATA including its leading updateType field, which
// must be UpdateTypeBitmap: pass the payload of a slow-path Update PDU (what follows the Share
// Data Header, once rdp/pdu has checked that it is not bulk-compressed) or the updateData of a
// fast-path FASTPATH_UPDATETYPE_BITMAP update (reassembled with fastpath.Defragmenter), as is.
// The rectangles' Data alias b. Bytes after the last rectangle are ignored.
func ParseBitmapUpdate(b []byte) ([]Rectangle, error) {
	if len(b) < 4 {
		return nil, malformed("bitmap update of %d bytes, need 4", len(b))
	}
	if t := binary.LittleEndian.Uint16(b); t != UpdateTypeBitmap {
		return nil, unsupported("updateType %d is not a bitmap update (%d)", t, UpdateTypeBitmap)
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	b = b[4:]
	rects := make([]Rectangle, 0, min(n, len(b)/bitmapDataFixedLen))
	for i := range n {
		r, rest, err := parseBitmapData(b)
		if err != nil {
			return nil, fmt.Errorf("bitmap update: rectangle %d of %d: %w", i, n, err)
		}
		rects = append(rects, r)
		b = rest
	}
	return rects, nil
}

func parseBitmapData(b []byte) (Rectangle, []byte, error) {
	if len(b) < bitmapDataFixedLen {
		return Rectangle{}, nil, malformed("TS_BITMAP_DATA needs %d bytes, %d left", bitmapDataFixedLen, len(b))
	}
	le := binary.LittleEndian
	r := Rectangle{
		DestLeft:     le.Uint16(b[0:]),
		DestTop:      le.Uint16(b[2:]),
		DestRight:    le.Uint16(b[4:]),
		DestBottom:   le.Uint16(b[6:]),
		Width:        le.Uint16(b[8:]),
		Height:       le.Uint16(b[10:]),
		BitsPerPixel: le.Uint16(b[12:]),
		Flags:        le.Uint16(b[14:]),
	}
	size := int(le.Uint16(b[16:]))
	b = b[bitmapDataFixedLen:]
	if size > len(b) {
		return Rectangle{}, nil, malformed("bitmapLength %d, %d bytes left", size, len(b))
	}
	data, rest := b[:size:size], b[size:]
	if r.Compressed() && r.Flags&FlagNoCompressionHeader == 0 {
		if size < cdHeaderLen {
			return Rectangle{}, nil, malformed("bitmapLength %d too short for the compressed data header", size)
		}
		h := &CompressedDataHeader{
			FirstRowSize:     le.Uint16(data[0:]),
			MainBodySize:     le.Uint16(data[2:]),
			ScanWidth:        le.Uint16(data[4:]),
			UncompressedSize: le.Uint16(data[6:]),
		}
		data = data[cdHeaderLen:]
		if int(h.MainBodySize) > len(data) {
			return Rectangle{}, nil, malformed("cbCompMainBodySize %d, bitmap data has %d bytes", h.MainBodySize, len(data))
		}
		r.Header, data = h, data[:h.MainBodySize:h.MainBodySize]
	}
	r.Data = data
	return r, rest, nil
}

// AppendBitmapUpdate appends TS_UPDATE_BITMAP_DATA holding rects, updateType included, to dst.
// A compressed rectangle without FlagNoCompressionHeader gets a Compressed Data Header: its
// Header when set, else one computed from the rectangle; MainBodySize is always len(Data).
func AppendBitmapUpdate(dst []byte, rects []Rectangle) ([]byte, error) {
	if len(rects) > 0xFFFF {
		return nil, fmt.Errorf("%w: %d rectangles in one bitmap update", ErrTooLarge, len(rects))
	}
	le := binary.LittleEndian
	dst = le.AppendUint16(dst, UpdateTypeBitmap)
	dst = le.AppendUint16(dst, uint16(len(rects)))
	for i, r := range rects {
		withHeader := r.Compressed() && r.Flags&FlagNoCompressionHeader == 0
		size := len(r.Data)
		if withHeader {
			size += cdHeaderLen
		}
		if size > 0xFFFF {
			return nil, tooLarge("rectangle %d: %d bytes of bitmap data, at most 65535", i, size)
		}
		for _, v := range []uint16{r.DestLeft, r.DestTop, r.DestRight, r.DestBottom, r.Width, r.Height, r.BitsPerPixel, r.Flags, uint16(size)} {
			dst = le.AppendUint16(dst, v)
		}
		if withHeader {
			h := CompressedDataHeader{}
			if r.Header != nil {
				h = *r.Header
			} else {
				bpp := (int(r.BitsPerPixel) + 7) / 8
				h.ScanWidth = uint16(int(r.Width) * bpp)
				h.UncompressedSize = uint16(int(r.Width) * int(r.Height) * bpp)
			}
			h.MainBodySize = uint16(len(r.Data))
			for _, v := range []uint16{h.FirstRowSize, h.MainBodySize, h.ScanWidth, h.UncompressedSize} {
				dst = le.AppendUint16(dst, v)
			}
		}
		dst = append(dst, r.Data...)
	}
	return dst, nil
}

// ParsePaletteUpdate parses TS_UPDATE_PALETTE_DATA (MS-RDPBCGR 2.2.9.1.1.3.1.1) including its
// leading updateType, which must be UpdateTypePalette: the payload of a slow-path Update PDU or
// the updateData of a fast-path FASTPATH_UPDATETYPE_PALETTE update. The spec says a palette has
// 256 entries; a shorter one leaves the remaining entries black. Colours are opaque.
func ParsePaletteUpdate(b []byte) (*[256]color.RGBA, error) {
	if len(b) < 8 {
		return nil, malformed("palette update of %d bytes, need 8", len(b))
	}
	le := binary.LittleEndian
	if t := le.Uint16(b); t != UpdateTypePalette {
		return nil, unsupported("updateType %d is not a palette update (%d)", t, UpdateTypePalette)
	}
	n := le.Uint32(b[4:])
	if n > 256 {
		return nil, malformed("palette of %d colours, at most 256", n)
	}
	b = b[8:]
	if len(b) < int(n)*3 {
		return nil, malformed("palette of %d colours needs %d bytes, %d left", n, n*3, len(b))
	}
	p := new([256]color.RGBA)
	for i := range p {
		p[i].A = 0xFF
	}
	for i := range int(n) {
		p[i] = color.RGBA{R: b[3*i], G: b[3*i+1], B: b[3*i+2], A: 0xFF}
	}
	return p, nil
}
