// Package bitmap decodes the bitmap updates of an RDP session into images, for a recorder that
// renders the captured PDU stream offline. A recording proxy makes the server send plain bitmap
// updates only (no drawing orders, codecs, surface commands or bulk compression; see rdp/pdu),
// so these decoders are all a renderer needs for the screen:
//
//   - ParseBitmapUpdate splits a Bitmap Update, TS_UPDATE_BITMAP_DATA (MS-RDPBCGR
//     2.2.9.1.1.3.1.2), into its rectangles (TS_BITMAP_DATA, 2.2.9.1.1.3.1.2.2), dropping the
//     optional Compressed Data Header (TS_CD_HEADER, 2.2.9.1.1.3.1.2.3). It takes the same bytes
//     from a slow-path Update PDU (the payload after the Share Data Header) and from a fast-path
//     FASTPATH_UPDATETYPE_BITMAP update (its reassembled updateData): both begin with updateType.
//   - Decode turns one Rectangle into a top-down *image.RGBA: uncompressed bitmaps at 8, 15, 16,
//     24 and 32 bpp; Interleaved RLE (RLE_BITMAP_STREAM, MS-RDPBCGR 2.2.9.1.1.3.1.2.4 and 3.1.9)
//     at 8, 15, 16 and 24 bpp; and RDP 6.0 planar bitmaps (RDP6_BITMAP_STREAM, MS-RDPEGDI
//     2.2.2.5.1 and 3.1.9) at 32 bpp, raw or RLE, with or without alpha, ARGB or AYCoCg with
//     colour loss and chroma subsampling.
//   - ParsePaletteUpdate reads the Palette Update (TS_UPDATE_PALETTE_DATA, 2.2.9.1.1.3.1.1) that
//     8 bpp bitmaps need.
//   - EncodeUncompressed, EncodeInterleaved, EncodePlanar and AppendBitmapUpdate build streams
//     for tests and load generation.
//
// # What a renderer must know
//
// RDP bitmaps are stored bottom-up (the first scanline of the data is the bottom row of the
// picture); Decode flips them. The bitmap's size (Width × Height, often padded up to a multiple
// of 4 by the server) may exceed the destination rectangle, whose bounds are inclusive: Decode
// clips the image to DestRight-DestLeft+1 × DestBottom-DestTop+1, keeping the top-left corner,
// and Rectangle.Dest says where it goes on the screen. Rectangles of one update are drawn in
// order, replacing the pixels below (no blending): the images Decode returns are opaque unless
// Options.Alpha asks for the bitmap's alpha.
//
// 8 bpp bitmaps are palette indexes. The palette is sent separately in Palette Updates (slow-path
// UPDATETYPE_PALETTE or fast-path FASTPATH_UPDATETYPE_PALETTE) and stays in force until the next
// one: the renderer keeps the latest palette of the session and passes it in Options.Palette.
// Without one, Decode uses DefaultPalette.
//
// # Safety
//
// Every parser and decoder checks its bounds and returns an error wrapping ErrMalformed,
// ErrUnsupported or ErrTooLarge; none panics, whatever the input. Bitmaps are limited to
// MaxDimension pixels a side and MaxOutputBytes of decoded RGBA, and a compressed stream must
// decode to exactly the bitmap's size. The package has no mutable global state; its functions are
// safe for concurrent use.
package bitmap

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed wraps every error about bytes that do not form what was expected.
	ErrMalformed = errors.New("bitmap: malformed data")
	// ErrUnsupported wraps errors about well-formed input this package does not decode, such as
	// an update type other than a bitmap update or a colour depth of 1 or 4 bpp.
	ErrUnsupported = errors.New("bitmap: unsupported")
	// ErrTooLarge wraps errors about bitmaps beyond MaxDimension or MaxOutputBytes.
	ErrTooLarge = errors.New("bitmap: too large")
)

// Limits on decoded bitmaps.
const (
	// MaxDimension is the largest width or height Decode accepts.
	MaxDimension = 8192
	// MaxOutputBytes bounds the RGBA image Decode returns (4 bytes a pixel).
	MaxOutputBytes = 64 << 20
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

func tooLarge(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, args...))
}

// checkSize validates a bitmap's dimensions against the limits.
func checkSize(width, height int) error {
	switch {
	case width <= 0 || height <= 0:
		return malformed("empty bitmap %dx%d", width, height)
	case width > MaxDimension || height > MaxDimension:
		return tooLarge("bitmap %dx%d, at most %d a side", width, height, MaxDimension)
	case width*height*4 > MaxOutputBytes:
		return tooLarge("bitmap %dx%d needs %d bytes, at most %d", width, height, width*height*4, MaxOutputBytes)
	}
	return nil
}
