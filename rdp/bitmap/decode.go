package bitmap

import (
	"fmt"
	"image"
	"image/color"
)

// Options changes how Decode renders a bitmap. The zero value is ready to use.
type Options struct {
	// Palette maps the pixels of 8 bpp bitmaps to colours: the latest palette the session sent
	// (ParsePaletteUpdate). Nil means DefaultPalette.
	Palette *[256]color.RGBA
	// Alpha keeps the alpha channel of 32 bpp bitmaps (the fourth byte of uncompressed pixels,
	// the alpha plane of planar ones) in the image, premultiplied as image.RGBA wants. By
	// default every pixel is opaque, as a screen is: RDP servers draw bitmaps by copying them,
	// and the fourth byte of 32 bpp desktop pixels is often zero.
	Alpha bool
}

// Decode decodes r with the default Options. See Options.Decode.
func Decode(r Rectangle) (*image.RGBA, error) { return Options{}.Decode(r) }

// Decode decodes r into a top-down RGBA image whose size is r.Dest's: the bitmap's Width ×
// Height clipped to the destination rectangle, top-left corner kept. Uncompressed bitmaps may be
// 8, 15, 16, 24 or 32 bpp; compressed ones are Interleaved RLE at 8 to 24 bpp and RDP 6.0 planar
// at 32 bpp. The whole bitmap is decoded and checked even when the image shows part of it.
func (o Options) Decode(r Rectangle) (*image.RGBA, error) {
	img, err := o.decode(r)
	if err != nil {
		return nil, fmt.Errorf("%dx%d %d bpp bitmap: %w", r.Width, r.Height, r.BitsPerPixel, err)
	}
	return img, nil
}

func (o Options) decode(r Rectangle) (*image.RGBA, error) {
	w, h := int(r.Width), int(r.Height)
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	ow, oh := r.clippedSize()
	if ow <= 0 || oh <= 0 {
		return nil, malformed("destination (%d,%d)-(%d,%d) has reversed bounds", r.DestLeft, r.DestTop, r.DestRight, r.DestBottom)
	}
	bpp := int(r.BitsPerPixel)
	switch bpp {
	case 8, 15, 16, 24, 32:
	default:
		return nil, unsupported("colour depth %d bpp", bpp)
	}
	// Each decoder checks its input before allocating the image, so that a bad stream costs
	// little.
	switch {
	case !r.Compressed():
		return o.decodeRaw(r.Data, w, h, bpp, ow, oh)
	case bpp == 32:
		return o.decodePlanar(r.Data, w, h, ow, oh)
	default:
		return o.decodeInterleaved(r.Data, w, h, bpp, ow, oh)
	}
}

// bytesPerPixel is the size of a pixel on the wire at a supported colour depth.
func bytesPerPixel(bpp int) int { return (bpp + 7) / 8 }

// decodeRaw converts the top-left ow × oh pixels of an uncompressed w × h bitmap: bottom-up
// scanlines, each padded to a multiple of 4 bytes (MS-RDPBCGR 2.2.9.1.1.3.1.2.2). Data without
// the padding is accepted as well.
func (o Options) decodeRaw(data []byte, w, h, bpp, ow, oh int) (*image.RGBA, error) {
	bpr := w * bytesPerPixel(bpp)
	stride := (bpr + 3) &^ 3
	switch {
	case len(data) >= stride*h:
	case len(data) >= bpr*h:
		stride = bpr
	default:
		return nil, malformed("uncompressed data of %d bytes, need %d", len(data), stride*h)
	}
	img := image.NewRGBA(image.Rect(0, 0, ow, oh))
	var pal *[256][4]byte
	if bpp == 8 {
		pal = o.palette4()
	}
	for y := range oh {
		src := data[(h-1-y)*stride:]
		src = src[:ow*bytesPerPixel(bpp)]
		dst := img.Pix[y*img.Stride : y*img.Stride+ow*4]
		switch bpp {
		case 8:
			for x, v := range src {
				*(*[4]byte)(dst[4*x:]) = pal[v]
			}
		case 15:
			for x := range ow {
				put555(dst[4*x:4*x+4], uint32(src[2*x])|uint32(src[2*x+1])<<8)
			}
		case 16:
			for x := range ow {
				put565(dst[4*x:4*x+4], uint32(src[2*x])|uint32(src[2*x+1])<<8)
			}
		case 24:
			for x := range ow {
				p := src[3*x : 3*x+3]
				*(*[4]byte)(dst[4*x:]) = [4]byte{p[2], p[1], p[0], 0xFF}
			}
		case 32:
			for x := range ow {
				p := src[4*x : 4*x+4]
				a := uint8(0xFF)
				if o.Alpha {
					a = p[3]
				}
				putRGBA(dst[4*x:4*x+4], p[2], p[1], p[0], a)
			}
		}
	}
	return img, nil
}

// palette4 returns the palette as image.RGBA pixels, premultiplied.
func (o Options) palette4() *[256][4]byte {
	pal := &defaultPalette
	if o.Palette != nil {
		pal = o.Palette
	}
	out := new([256][4]byte)
	for i, c := range pal {
		if c.A != 0xFF { // image/color's RGBA is premultiplied already; keep it valid
			c.R, c.G, c.B = min(c.R, c.A), min(c.G, c.A), min(c.B, c.A)
		}
		out[i] = [4]byte{c.R, c.G, c.B, c.A}
	}
	return out
}

// putRGBA stores a non-premultiplied colour into an image.RGBA pixel.
func putRGBA(dst []byte, r, g, b, a uint8) {
	if a != 0xFF {
		r, g, b = premultiply(r, a), premultiply(g, a), premultiply(b, a)
	}
	*(*[4]byte)(dst) = [4]byte{r, g, b, a}
}

func premultiply(c, a uint8) uint8 { return uint8((uint32(c)*uint32(a) + 127) / 255) }

// put555 stores a 15 bpp pixel (x RRRRR GGGGG BBBBB).
func put555(dst []byte, v uint32) {
	*(*[4]byte)(dst) = [4]byte{expand5[v>>10&0x1F], expand5[v>>5&0x1F], expand5[v&0x1F], 0xFF}
}

// put565 stores a 16 bpp pixel (RRRRR GGGGGG BBBBB).
func put565(dst []byte, v uint32) {
	*(*[4]byte)(dst) = [4]byte{expand5[v>>11&0x1F], expand6[v>>5&0x3F], expand5[v&0x1F], 0xFF}
}

// expand5 and expand6 widen 5- and 6-bit channels to 8 bits, repeating the high bits in the low
// ones so that full intensity stays full (31 → 255, 63 → 255). They are read-only.
var (
	expand5 = func() (t [32]uint8) {
		for i := range t {
			t[i] = uint8(i<<3 | i>>2)
		}
		return t
	}()
	expand6 = func() (t [64]uint8) {
		for i := range t {
			t[i] = uint8(i<<2 | i>>4)
		}
		return t
	}()
)

// defaultPalette is read-only; DefaultPalette hands out copies.
var defaultPalette = func() (p [256]color.RGBA) {
	for i := range p {
		r, g, b := i>>5&7, i>>2&7, i&3
		p[i] = color.RGBA{R: uint8(r * 255 / 7), G: uint8(g * 255 / 7), B: uint8(b * 255 / 3), A: 0xFF}
	}
	return p
}()

// DefaultPalette returns the palette Decode uses for 8 bpp bitmaps when Options.Palette is nil:
// a fixed 3-3-2 colour cube (index bits RRRGGGBB). The server of an 8 bpp session sends its
// palette in a Palette Update before drawing, so this only shows when a recording lacks it.
func DefaultPalette() *[256]color.RGBA {
	p := defaultPalette
	return &p
}
