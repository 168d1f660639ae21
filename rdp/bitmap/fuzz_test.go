package bitmap

import (
	"image"
	"image/color"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// The fuzz targets keep bitmaps small (at most fuzzMaxSide pixels a side) so that every input
// decodes in microseconds; the size limits themselves are covered by TestDecodeErrors.
const fuzzMaxSide = 128

func fuzzSize(w, h uint16) (int, int) { return 1 + int(w)%fuzzMaxSide, 1 + int(h)%fuzzMaxSide }

var rleDepths = []int{8, 15, 16, 24}

// FuzzDecodeInterleaved decodes arbitrary Interleaved RLE streams. A stream that decodes must
// give a picture that the encoder turns into a stream decoding to the same pixels.
func FuzzDecodeInterleaved(f *testing.F) {
	r := rand.New(rand.NewPCG(11, 12))
	for i, bpp := range rleDepths {
		for _, tc := range rleCorpus(r, bpp) {
			b := tc.img.Bounds()
			if b.Dx() > fuzzMaxSide || b.Dy() > fuzzMaxSide {
				continue
			}
			data, _, err := encodeForTest(tc.img, bpp)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, uint16(b.Dx()-1), uint16(b.Dy()-1), uint8(i))
		}
	}
	f.Add([]byte{0x02, 0x21, 0xC1, 0x07, 0xE2, 0x0A, 0x0B, 0x03, 0x01, 0x62, 0x33, 0x82, 0x44, 0x55, 0x41, 0x05, 0xF9}, uint16(7), uint16(3), uint8(0))
	for _, r := range capturedRectangles(f, false) {
		f.Add(r.Data, r.Width-1, r.Height-1, uint8(slices.Index(rleDepths, int(r.BitsPerPixel))))
	}
	f.Fuzz(func(t *testing.T, data []byte, w16, h16 uint16, depth uint8) {
		w, h := fuzzSize(w16, h16)
		bpp := rleDepths[int(depth)%len(rleDepths)]
		img, err := Decode(rect(w, h, bpp, FlagCompression, data))
		px, err2 := decodeRLE(data, w, h, bpp)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Decode: %v, decodeRLE: %v", err, err2)
		}
		if err != nil {
			return
		}
		if img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("image %v for %dx%d", img.Bounds(), w, h)
		}
		enc, _ := encodeRLE(px, w, h, bpp)
		again, err := decodeRLE(enc, w, h, bpp)
		if err != nil {
			t.Fatalf("re-encoded stream: %v", err)
		}
		if !slices.Equal(again, px) {
			t.Fatalf("re-encoded stream decodes differently")
		}
	})
}

// FuzzDecodePlanar decodes arbitrary RDP 6.0 planar streams, and round-trips a picture made of
// the input bytes through the lossless modes of the encoder.
func FuzzDecodePlanar(f *testing.F) {
	r := rand.New(rand.NewPCG(13, 14))
	imgs := []*image.RGBA{desktopImage(r, 64, 64), noiseImage(r, 7, 3), gradientImage(33, 9), solidImage(5, 5, color.RGBA{1, 2, 3, 0xFF})}
	for _, img := range imgs {
		for _, o := range []PlanarOptions{{}, {RLE: true}, {Alpha: true}, {RLE: true, Alpha: true},
			{ColorLossLevel: 3}, {RLE: true, ColorLossLevel: 3, ChromaSubsampling: true}, {RLE: true, Alpha: true, ColorLossLevel: 7, ChromaSubsampling: true}} {
			data, err := EncodePlanar(img, o)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, uint16(img.Rect.Dx()-1), uint16(img.Rect.Dy()-1))
		}
	}
	for _, r := range capturedRectangles(f, true) {
		f.Add(r.Data, r.Width-1, r.Height-1)
	}
	f.Fuzz(func(t *testing.T, data []byte, w16, h16 uint16) {
		w, h := fuzzSize(w16, h16)
		if img, err := (Options{Alpha: true}).Decode(rect(w, h, 32, FlagCompression, data)); err == nil && img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("image %v for %dx%d", img.Bounds(), w, h)
		}
		// Round trip: the input bytes as opaque pixels of a smaller picture, through raw and RLE
		// planes.
		if len(data) < 4 {
			return
		}
		w, h = 1+w%24, 1+h%24
		pic := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range pic.Pix {
			pic.Pix[i] = data[i%len(data)]
			if i%4 == 3 {
				pic.Pix[i] = 0xFF
			}
		}
		for _, o := range []PlanarOptions{{RLE: true}, {}} {
			enc, err := EncodePlanar(pic, o)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Decode(rect(w, h, 32, FlagCompression, enc))
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			if !slices.Equal(out.Pix, pic.Pix) {
				t.Fatalf("%+v: round trip differs", o)
			}
		}
	})
}

// capturedRectangles returns a few compressed rectangles of the captured sessions, planar ones
// or RLE ones, as seeds: real servers' streams.
func capturedRectangles(tb testing.TB, planar bool) []Rectangle {
	var out []Rectangle
	for _, c := range captureCases {
		if (c.bpp == 32) != planar {
			continue
		}
		seen := 0
		for _, u := range readCaptureGolden(tb, c.name) {
			rects, err := ParseBitmapUpdate(u)
			if err != nil {
				tb.Fatal(err)
			}
			for _, r := range rects {
				if r.Compressed() && r.Width <= fuzzMaxSide && r.Height <= fuzzMaxSide && seen < 8 {
					out = append(out, r)
					seen++
				}
			}
		}
	}
	return out
}

// FuzzParseBitmapUpdate parses arbitrary bitmap updates: what parses must marshal and parse back
// the same, and its rectangles must decode or fail without harm.
func FuzzParseBitmapUpdate(f *testing.F) {
	f.Add(updateBytes)
	r := rand.New(rand.NewPCG(15, 16))
	var rects []Rectangle
	pic := desktopImage(r, 16, 8)
	for _, bpp := range []int{15, 16, 24, 32} {
		raw, _ := EncodeUncompressed(pic, bpp)
		rects = append(rects, Rectangle{DestLeft: 10, DestTop: 10, DestRight: 25, DestBottom: 17, Width: 16, Height: 8, BitsPerPixel: uint16(bpp), Data: raw})
		var comp []byte
		if bpp == 32 {
			comp, _ = EncodePlanar(pic, PlanarOptions{RLE: true})
		} else {
			comp, _ = EncodeInterleaved(pic, bpp)
		}
		rects = append(rects,
			Rectangle{DestRight: 15, DestBottom: 7, Width: 16, Height: 8, BitsPerPixel: uint16(bpp), Flags: FlagCompression | FlagNoCompressionHeader, Data: comp},
			Rectangle{DestRight: 11, DestBottom: 5, Width: 16, Height: 8, BitsPerPixel: uint16(bpp), Flags: FlagCompression, Data: comp})
	}
	for i := range rects {
		b, err := AppendBitmapUpdate(nil, rects[i:i+1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	all, err := AppendBitmapUpdate(nil, rects)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(all)
	for _, c := range captureCases {
		for _, u := range readCaptureGolden(f, c.name) {
			if len(u) < 4096 { // xrdp's small updates: 1 to a few rectangles
				f.Add(u)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rects, err := ParseBitmapUpdate(b)
		if err != nil {
			return
		}
		out, err := AppendBitmapUpdate(nil, rects)
		if err != nil {
			t.Fatalf("marshal of parsed rectangles: %v", err)
		}
		again, err := ParseBitmapUpdate(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(again, rects) {
			t.Fatalf("re-parsed\n%+v\nwant\n%+v", again, rects)
		}
		for _, r := range rects {
			if int(r.Width)*int(r.Height) > fuzzMaxSide*fuzzMaxSide {
				continue
			}
			img, err := Decode(r)
			if err == nil && img.Bounds().Size() != r.Dest().Size() {
				t.Fatalf("image %v, Dest %v", img.Bounds(), r.Dest())
			}
		}
	})
}
