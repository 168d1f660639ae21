package bitmap_test

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
)

// A renderer keeps a framebuffer and the session's palette, and draws every rectangle of every
// bitmap update where Dest says, in order.
func Example() {
	// A server's update, here built with the package's encoders: a 4×4 red square at (2,1),
	// Interleaved RLE at 16 bpp.
	red := image.NewRGBA(image.Rect(0, 0, 4, 4))
	draw.Draw(red, red.Bounds(), image.NewUniform(color.RGBA{0xFF, 0, 0, 0xFF}), image.Point{}, draw.Src)
	data, err := bitmap.EncodeInterleaved(red, 16)
	if err != nil {
		panic(err)
	}
	update, err := bitmap.AppendBitmapUpdate(nil, []bitmap.Rectangle{{
		DestLeft: 2, DestTop: 1, DestRight: 5, DestBottom: 4, Width: 4, Height: 4,
		BitsPerPixel: 16, Flags: bitmap.FlagCompression | bitmap.FlagNoCompressionHeader, Data: data,
	}})
	if err != nil {
		panic(err)
	}

	// The renderer: update is the payload of a slow-path Update PDU with UPDATETYPE_BITMAP or
	// the updateData of a fast-path FASTPATH_UPDATETYPE_BITMAP update.
	screen := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var opts bitmap.Options // opts.Palette = the latest bitmap.ParsePaletteUpdate result
	rects, err := bitmap.ParseBitmapUpdate(update)
	if err != nil {
		panic(err)
	}
	for _, r := range rects {
		img, err := opts.Decode(r)
		if err != nil {
			fmt.Println("skipping:", err)
			continue
		}
		draw.Draw(screen, r.Dest(), img, image.Point{}, draw.Src)
	}
	fmt.Println(rects[0], screen.RGBAAt(2, 1), screen.RGBAAt(1, 1))
	// Output:
	// bitmap 4x4 16bpp compressed (3 bytes) at (2,1)-(5,4) {255 0 0 255} {0 0 0 0}
}
