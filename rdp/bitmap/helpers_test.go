package bitmap

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// rect returns a Rectangle for a w × h bitmap at (0,0) with a matching destination.
func rect(w, h, bpp int, flags uint16, data []byte) Rectangle {
	return Rectangle{DestRight: uint16(w - 1), DestBottom: uint16(h - 1), Width: uint16(w), Height: uint16(h),
		BitsPerPixel: uint16(bpp), Flags: flags, Data: data}
}

// mustDecode decodes r and fails the test on error.
func mustDecode(t testing.TB, o Options, r Rectangle) *image.RGBA {
	t.Helper()
	img, err := o.Decode(r)
	if err != nil {
		t.Fatalf("decode %v: %v", r, err)
	}
	return img
}

// diffImages compares two images pixel by pixel and returns the first difference beyond tol.
func diffImages(got, want image.Image, tol int) error {
	if got.Bounds() != want.Bounds() {
		return fmt.Errorf("bounds %v, want %v", got.Bounds(), want.Bounds())
	}
	b := got.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA)
			w := color.RGBAModel.Convert(want.At(x, y)).(color.RGBA)
			if absDiff(g.R, w.R) > tol || absDiff(g.G, w.G) > tol || absDiff(g.B, w.B) > tol || absDiff(g.A, w.A) > tol {
				return fmt.Errorf("pixel (%d,%d) = %v, want %v", x, y, g, w)
			}
		}
	}
	return nil
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// quantize returns what a bitmap at bpp holds for c once decoded: the colour with its low bits
// replaced the way Decode expands 5- and 6-bit channels, opaque.
func quantize(c color.RGBA, bpp int) color.RGBA {
	switch bpp {
	case 15:
		return color.RGBA{expand5[c.R>>3], expand5[c.G>>3], expand5[c.B>>3], 0xFF}
	case 16:
		return color.RGBA{expand5[c.R>>3], expand6[c.G>>2], expand5[c.B>>3], 0xFF}
	}
	c.A = 0xFF
	return c
}

// quantized returns img as it decodes at bpp.
func quantized(img *image.RGBA, bpp int) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetRGBA(x, y, quantize(img.RGBAAt(x, y), bpp))
		}
	}
	return out
}

// Synthetic pictures: what a desktop is made of.

func solidImage(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func noiseImage(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 0xFF
	}
	return img
}

func gradientImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), uint8((x + y) * 127 / max(w+h-2, 1)), 0xFF})
		}
	}
	return img
}

// desktopImage draws a window on a solid background: a title bar, text-like glyphs (two colours
// in irregular patterns), a dithered area, a photo-like noisy area and some isolated white and
// black pixels.
func desktopImage(r *rand.Rand, w, h int) *image.RGBA {
	bg := color.RGBA{0x33, 0x66, 0x99, 0xFF}
	img := solidImage(w, h, bg)
	x0, y0, x1, y1 := w/8, h/8, w*7/8, h*7/8
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c := color.RGBA{0xF0, 0xF0, 0xF0, 0xFF}
			switch {
			case y < y0+h/16:
				c = color.RGBA{0x00, 0x00, 0x80, 0xFF} // title bar
			case y < y0+h/4 && r.IntN(5) == 0:
				c = color.RGBA{0x10, 0x10, 0x10, 0xFF} // glyphs
			case y >= y0+h/4 && y < y0+h/3:
				if (x+y)%2 == 0 { // dither
					c = color.RGBA{0xC0, 0xC0, 0xC0, 0xFF}
				} else {
					c = color.RGBA{0x80, 0x80, 0x80, 0xFF}
				}
			case y >= y0+h/2 && x < x0+w/4:
				c = color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 0xFF} // photo
			}
			img.SetRGBA(x, y, c)
		}
	}
	for range w * h / 200 {
		c := color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
		if r.IntN(2) == 0 {
			c = color.RGBA{0, 0, 0, 0xFF}
		}
		img.SetRGBA(r.IntN(w), r.IntN(h), c)
	}
	return img
}

// palettedImage returns an 8 bpp picture: indexes that follow the same patterns.
func palettedImage(r *rand.Rand, w, h int) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = DefaultPalette()[i]
	}
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	src := desktopImage(r, w, h)
	for y := range h {
		for x := range w {
			img.SetColorIndex(x, y, uint8(pal.Index(src.RGBAAt(x, y))))
		}
	}
	return img
}
