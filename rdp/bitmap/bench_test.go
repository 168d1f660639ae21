package bitmap

import (
	"fmt"
	"image"
	"math/rand/v2"
	"testing"
)

// The benchmarks decode a 1024×768 desktop-like screen sent as 64×64 tiles, as servers send
// full-screen updates, and report throughput in bytes of RGBA output (b.SetBytes).

const benchW, benchH, benchTile = 1024, 768, 64

// benchTiles cuts a desktop picture into tiles and encodes each with enc.
func benchTiles(b *testing.B, bpp int, flags uint16, enc func(img image.Image) ([]byte, error)) []Rectangle {
	b.Helper()
	r := rand.New(rand.NewPCG(21, 22))
	var pic image.Image = desktopImage(r, benchW, benchH)
	if bpp == 8 {
		pic = palettedImage(r, benchW, benchH)
	}
	var rects []Rectangle
	for y := 0; y < benchH; y += benchTile {
		for x := 0; x < benchW; x += benchTile {
			tile := pic.(interface {
				SubImage(image.Rectangle) image.Image
			}).SubImage(image.Rect(x, y, x+benchTile, y+benchTile))
			data, err := enc(tile)
			if err != nil {
				b.Fatal(err)
			}
			rects = append(rects, Rectangle{DestLeft: uint16(x), DestTop: uint16(y), DestRight: uint16(x + benchTile - 1),
				DestBottom: uint16(y + benchTile - 1), Width: benchTile, Height: benchTile, BitsPerPixel: uint16(bpp), Flags: flags, Data: data})
		}
	}
	return rects
}

func runDecodeBench(b *testing.B, rects []Rectangle) {
	b.Helper()
	in := 0
	for _, r := range rects {
		in += len(r.Data)
	}
	b.SetBytes(benchW * benchH * 4)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rects {
			if _, err := Decode(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(in)/float64(benchW*benchH*4), "in/out")
}

func BenchmarkDecodeUncompressed(b *testing.B) {
	for _, bpp := range []int{8, 16, 24, 32} {
		b.Run(fmt.Sprintf("%dbpp", bpp), func(b *testing.B) {
			runDecodeBench(b, benchTiles(b, bpp, 0, func(img image.Image) ([]byte, error) { return EncodeUncompressed(img, bpp) }))
		})
	}
}

func BenchmarkDecodeInterleaved(b *testing.B) {
	for _, bpp := range rleDepths {
		b.Run(fmt.Sprintf("%dbpp", bpp), func(b *testing.B) {
			runDecodeBench(b, benchTiles(b, bpp, FlagCompression|FlagNoCompressionHeader, func(img image.Image) ([]byte, error) {
				return EncodeInterleaved(img, bpp)
			}))
		})
	}
}

func BenchmarkDecodePlanar(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    PlanarOptions
	}{
		{"raw", PlanarOptions{}},
		{"rle", PlanarOptions{RLE: true}},
		{"rle-alpha", PlanarOptions{RLE: true, Alpha: true}},
		{"rle-cll3-cs", PlanarOptions{RLE: true, ColorLossLevel: 3, ChromaSubsampling: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runDecodeBench(b, benchTiles(b, 32, FlagCompression|FlagNoCompressionHeader, func(img image.Image) ([]byte, error) {
				return EncodePlanar(img, tc.o)
			}))
		})
	}
}
