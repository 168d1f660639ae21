package bitmap

import (
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRLEEveryOrder decodes a hand-written 8×9 stream at 8 bpp that uses every order of
// MS-RDPBCGR 2.2.9.1.1.3.1.2.4 once; the expected pixel values were worked out by hand from the
// decompression pseudo-code of 3.1.9. Rows are listed in stream order (the bottom row first).
func TestRLEEveryOrder(t *testing.T) {
	stream := []byte{
		// Row 0 (first line): background is black, the foreground starts white.
		0x02,       // REGULAR_BG_RUN 2: 00 00
		0x21,       // REGULAR_FG_RUN 1: FF
		0xC1, 0x07, // LITE_SET_FG_FG_RUN 1, fg=07: 07
		0xE2, 0x0A, 0x0B, // LITE_DITHERED_RUN 2 pairs: 0A 0B 0A 0B
		// Row 1: background copies the row before.
		0x03,       // REGULAR_BG_RUN 3: 00 00 FF
		0x01,       // REGULAR_BG_RUN 1 right after one: inserted fg pixel 07^07 = 00
		0x62, 0x33, // REGULAR_COLOR_RUN 2: 33 33
		0x82, 0x44, 0x55, // REGULAR_COLOR_IMAGE 2: 44 55
		// Row 2.
		0x41, 0x05, // REGULAR_FGBG_IMAGE 8 pixels, bits 0 and 2: above^07 where set
		// Row 3.
		0xF9, // SPECIAL_FGBG_1: bitmask 0x03
		// Row 4.
		0xFD,             // WHITE
		0xFE,             // BLACK
		0xD0, 0x05, 0x09, // LITE_SET_FG_FGBG_IMAGE, extended length 5+1, fg=09
		0x21, //   bitmask: bits 0 and 5
		// Row 5.
		0xF0, 0x02, 0x00, // MEGA_MEGA_BG_RUN 2
		0xF6, 0x01, 0x00, 0x10, // MEGA_MEGA_SET_FG_RUN 1, fg=10
		0xF1, 0x01, 0x00, // MEGA_MEGA_FG_RUN 1
		0xF8, 0x01, 0x00, 0x21, 0x22, // MEGA_MEGA_DITHERED_RUN 1 pair
		0xF3, 0x01, 0x00, 0x30, // MEGA_MEGA_COLOR_RUN 1
		0xF4, 0x01, 0x00, 0x40, // MEGA_MEGA_COLOR_IMAGE 1
		// Row 6.
		0xF2, 0x08, 0x00, 0xFF, // MEGA_MEGA_FGBG_IMAGE 8, every bit set
		// Row 7.
		0xF7, 0x08, 0x00, 0x01, 0x80, // MEGA_MEGA_SET_FGBG_IMAGE 8, fg=01, bit 7
		// Row 8.
		0xFA, // SPECIAL_FGBG_2: bitmask 0x05
	}
	want := [][]uint32{
		{0x00, 0x00, 0xFF, 0x07, 0x0A, 0x0B, 0x0A, 0x0B},
		{0x00, 0x00, 0xFF, 0x00, 0x33, 0x33, 0x44, 0x55},
		{0x07, 0x00, 0xF8, 0x00, 0x33, 0x33, 0x44, 0x55},
		{0x00, 0x07, 0xF8, 0x00, 0x33, 0x33, 0x44, 0x55},
		{0xFF, 0x00, 0xF1, 0x00, 0x33, 0x33, 0x44, 0x5C},
		{0xFF, 0x00, 0xE1, 0x10, 0x21, 0x22, 0x30, 0x40},
		{0xEF, 0x10, 0xF1, 0x00, 0x31, 0x32, 0x20, 0x50},
		{0xEF, 0x10, 0xF1, 0x00, 0x31, 0x32, 0x20, 0x51},
		{0xEE, 0x10, 0xF0, 0x00, 0x31, 0x32, 0x20, 0x51},
	}
	got, err := decodeRLE(stream, 8, len(want), 8)
	if err != nil {
		t.Fatal(err)
	}
	for y, row := range want {
		if g := got[y*8 : y*8+8]; !slices.Equal(g, row) {
			t.Errorf("row %d = % 02x, want % 02x", y, g, row)
		}
	}
}

// TestRLERules checks run-length forms and the first-line rules, one small stream each.
func TestRLERules(t *testing.T) {
	const W = 0xFF
	tests := map[string]struct {
		w, h, bpp int
		stream    []byte
		want      []uint32 // stream order
	}{
		"regular extended length adds 32": {w: 33, h: 1, bpp: 8, stream: []byte{0x60, 0x01, 0x05}, want: slices.Repeat([]uint32{5}, 33)},
		"regular direct length 31":        {w: 31, h: 1, bpp: 8, stream: []byte{0x7F, 0x05}, want: slices.Repeat([]uint32{5}, 31)},
		"lite extended length adds 16":    {w: 17, h: 1, bpp: 8, stream: []byte{0xC0, 0x01, 0x06}, want: slices.Repeat([]uint32{6}, 17)},
		"lite dithered extended":          {w: 32, h: 1, bpp: 8, stream: []byte{0xE0, 0x00, 0x01, 0x02}, want: slices.Repeat([]uint32{1, 2}, 16)},
		"fgbg direct length counts eights": {w: 16, h: 1, bpp: 8, stream: []byte{0x42, 0x01, 0x80},
			want: []uint32{W, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, W}},
		"fgbg extended length adds 1": {w: 3, h: 1, bpp: 8, stream: []byte{0x40, 0x02, 0x05},
			want: []uint32{W, 0, W}},
		"mega-mega length is 16 bits": {w: 300, h: 1, bpp: 8, stream: []byte{0xF3, 0x2C, 0x01, 0x09}, want: slices.Repeat([]uint32{9}, 300)},
		"background runs in a row insert the foreground on the first line": {w: 4, h: 1, bpp: 8,
			stream: []byte{0x01, 0x02, 0x01}, want: []uint32{0, W, 0, W}},
		"first-line rules hold for a whole order that starts on the first line": {w: 2, h: 3, bpp: 8,
			stream: []byte{0x21, 0x25}, want: []uint32{W, W, W, W, W, W}},
		"the end of the first line cancels the foreground insertion": {w: 2, h: 2, bpp: 8,
			stream: []byte{0x02, 0x02}, want: []uint32{0, 0, 0, 0}},
		"background run copies the row before, longer than a row": {w: 2, h: 3, bpp: 8,
			stream: []byte{0x82, 0x01, 0x02, 0x04}, want: []uint32{1, 2, 1, 2, 1, 2}},
		"inserted foreground pixel after the first line": {w: 4, h: 2, bpp: 8,
			stream: []byte{0x84, 1, 2, 3, 4, 0x01, 0x01, 0x02}, want: []uint32{1, 2, 3, 4, 1, 2 ^ W, 3 ^ W, 4}},
		"empty mega-mega background run still inserts": {w: 2, h: 1, bpp: 8,
			stream: []byte{0x01, 0xF0, 0x00, 0x00}, want: []uint32{0, W}},
		"white at 15 bpp":              {w: 1, h: 1, bpp: 15, stream: []byte{0xFD}, want: []uint32{0x7FFF}},
		"white at 16 bpp":              {w: 1, h: 1, bpp: 16, stream: []byte{0xFD}, want: []uint32{0xFFFF}},
		"white at 24 bpp":              {w: 1, h: 1, bpp: 24, stream: []byte{0xFD}, want: []uint32{0xFFFFFF}},
		"first-line fg is white at 24": {w: 1, h: 1, bpp: 24, stream: []byte{0x21}, want: []uint32{0xFFFFFF}},
		"24 bpp pixels are little-endian": {w: 2, h: 1, bpp: 24, stream: []byte{0x82, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66},
			want: []uint32{0x332211, 0x665544}},
		"16 bpp dithered": {w: 4, h: 1, bpp: 16, stream: []byte{0xE2, 0x1F, 0x00, 0xE0, 0x07}, want: []uint32{0x1F, 0x7E0, 0x1F, 0x7E0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeRLE(tc.stream, tc.w, tc.h, tc.bpp)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got % x\nwant % x", got, tc.want)
			}
		})
	}
}

// TestRLEColours decodes single pixels through Decode to check the conversion of each depth.
func TestRLEColours(t *testing.T) {
	pal := DefaultPalette()
	pal[0x42] = color.RGBA{1, 2, 3, 0xFF}
	tests := map[string]struct {
		bpp    int
		stream []byte
		want   color.RGBA
	}{
		"8 bpp palette":   {8, []byte{0x61, 0x42}, color.RGBA{1, 2, 3, 0xFF}},
		"15 bpp red":      {15, []byte{0x61, 0x00, 0x7C}, color.RGBA{0xFF, 0, 0, 0xFF}},
		"15 bpp mid":      {15, []byte{0x61, 0x10, 0x42}, color.RGBA{0x84, 0x84, 0x84, 0xFF}},
		"16 bpp green":    {16, []byte{0x61, 0xE0, 0x07}, color.RGBA{0, 0xFF, 0, 0xFF}},
		"16 bpp magenta":  {16, []byte{0x61, 0x1F, 0xF8}, color.RGBA{0xFF, 0, 0xFF, 0xFF}},
		"24 bpp bgr":      {24, []byte{0x61, 0x33, 0x22, 0x11}, color.RGBA{0x11, 0x22, 0x33, 0xFF}},
		"24 bpp white":    {24, []byte{0xFD}, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}},
		"16 bpp black":    {16, []byte{0xFE}, color.RGBA{0, 0, 0, 0xFF}},
		"8 bpp white pel": {8, []byte{0xFD}, pal[0xFF]},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			img := mustDecode(t, Options{Palette: pal}, rect(1, 1, tc.bpp, FlagCompression, tc.stream))
			if got := img.RGBAAt(0, 0); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRLEFlipAndClip checks that Decode turns the bottom-up stream upright and keeps the top-left
// corner when the destination is smaller than the bitmap.
func TestRLEFlipAndClip(t *testing.T) {
	// 2×3 bitmap, stream rows: 1 2 / 3 4 / 5 6 (bottom first).
	stream := []byte{0x86, 1, 2, 3, 4, 5, 6}
	pal := new([256]color.RGBA)
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), 0, 0, 0xFF}
	}
	r := rect(2, 3, 8, FlagCompression, stream)
	img := mustDecode(t, Options{Palette: pal}, r)
	want := [][]uint8{{5, 6}, {3, 4}, {1, 2}}
	for y, row := range want {
		for x, v := range row {
			if got := img.RGBAAt(x, y).R; got != v {
				t.Errorf("pixel (%d,%d) = %d, want %d", x, y, got, v)
			}
		}
	}
	r.DestLeft, r.DestTop, r.DestRight, r.DestBottom = 10, 20, 10, 21 // 1×2 destination
	img = mustDecode(t, Options{Palette: pal}, r)
	if img.Bounds() != image.Rect(0, 0, 1, 2) || img.RGBAAt(0, 0).R != 5 || img.RGBAAt(0, 1).R != 3 {
		t.Errorf("clipped image %v: %v %v", img.Bounds(), img.RGBAAt(0, 0), img.RGBAAt(0, 1))
	}
	if got, want := r.Dest(), image.Rect(10, 20, 11, 22); got != want {
		t.Errorf("Dest() = %v, want %v", got, want)
	}
}

func TestRLEErrors(t *testing.T) {
	tests := map[string]struct {
		w, h, bpp int
		stream    []byte
	}{
		"empty":                         {1, 1, 8, nil},
		"underfilled":                   {2, 1, 8, []byte{0x61, 0x05}},
		"overfilled":                    {2, 1, 8, []byte{0x63, 0x05}},
		"overfilled by a later order":   {2, 1, 8, []byte{0x62, 0x05, 0xFD}},
		"extended length missing":       {40, 1, 8, []byte{0x60}},
		"mega-mega length missing":      {1, 1, 8, []byte{0xF3, 0x01}},
		"colour missing":                {1, 1, 16, []byte{0x61, 0x05}},
		"colour image truncated":        {2, 1, 24, []byte{0x82, 1, 2, 3, 4, 5}},
		"bitmask missing":               {8, 1, 8, []byte{0x41}},
		"dithered second colour absent": {2, 1, 8, []byte{0xE1, 0x01}},
		"unknown regular code 5":        {1, 1, 8, []byte{0xA1}},
		"unknown special 0xFB":          {1, 1, 8, []byte{0xFB}},
		"unknown mega-mega 0xF5":        {1, 1, 8, []byte{0xF5, 0x01, 0x00}},
		"special FGBG past the end":     {4, 1, 8, []byte{0xF9}},
		"stream too short for size":     {4096, 4096, 8, []byte{0xF0, 0xFF, 0xFF}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(rect(tc.w, tc.h, tc.bpp, FlagCompression, tc.stream))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestRLERoundTrip encodes synthetic pictures with the test encoder at every depth and checks
// that they decode to the same pixels, and that the corpus exercises every order.
func TestRLERoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	stats := map[uint8]int{}
	for _, bpp := range []int{8, 15, 16, 24} {
		for _, tc := range rleCorpus(r, bpp) {
			data, st, err := encodeForTest(tc.img, bpp)
			if err != nil {
				t.Fatalf("%d bpp %s: %v", bpp, tc.name, err)
			}
			for k, v := range st {
				stats[k] += v
			}
			b := tc.img.Bounds()
			img := mustDecode(t, Options{Palette: DefaultPalette()}, rect(b.Dx(), b.Dy(), bpp, FlagCompression|FlagNoCompressionHeader, data))
			if err := diffImages(img, expectedImage(tc.img, bpp), 0); err != nil {
				t.Errorf("%d bpp %s (%d bytes): %v", bpp, tc.name, len(data), err)
			}
		}
	}
	all := []uint8{regularBgRun, regularFgRun, regularFgBgImage, regularColorRun, regularColorImage,
		liteSetFgFgRun, liteSetFgFgBgImage, liteDitheredRun,
		megaMegaBgRun, megaMegaFgRun, megaMegaFgBgImage, megaMegaColorRun, megaMegaColorImage,
		megaMegaSetFgRun, megaMegaSetFgBgImage, megaMegaDitheredRun,
		specialFgBg1, specialFgBg2, specialWhite, specialBlack}
	for _, c := range all {
		if stats[c] == 0 {
			t.Errorf("order 0x%02x never used by the round trip corpus", c)
		}
	}
	t.Logf("orders used: %v", stats)
}

type corpusImage struct {
	name string
	img  image.Image
}

// rleCorpus returns pictures that make the encoder use every order: desktop-like content, noise,
// solid areas and rows built from the row before (XOR with a colour, long dithers, long
// two-colour patterns) wider than the longest non-mega run.
func rleCorpus(r *rand.Rand, bpp int) []corpusImage {
	var out []corpusImage
	add := func(name string, img *image.RGBA) {
		if bpp == 8 {
			out = append(out, corpusImage{name, toPaletted(img)})
		} else {
			out = append(out, corpusImage{name, img})
		}
	}
	add("desktop 64x64", desktopImage(r, 64, 64))
	add("desktop 200x150", desktopImage(r, 200, 150))
	add("noise 17x5", noiseImage(r, 17, 5))
	add("solid 1x1", solidImage(1, 1, color.RGBA{1, 2, 3, 0xFF}))
	add("solid 700x3", solidImage(700, 3, color.RGBA{9, 9, 9, 0xFF}))
	add("gradient 40x30", gradientImage(40, 30))
	add("rows 600", rowsImage(r, 600, bpp))
	add("rows 100", rowsImage(r, 100, bpp))
	add("specials", specialsImage(bpp))
	return out
}

// rowsImage stacks rows that each derive from the row above (bottom-up, as the stream sees it):
// XORed with one colour, equal, dithered, two-colour patterns.
func rowsImage(r *rand.Rand, w, bpp int) *image.RGBA {
	px := make([][]uint32, 0, 12)
	mask := uint32(1)<<bpp - 1
	noise := func() []uint32 {
		row := make([]uint32, w)
		for i := range row {
			row[i] = r.Uint32() & mask
		}
		return row
	}
	xor := func(src []uint32, fg uint32) []uint32 {
		row := make([]uint32, w)
		for i, v := range src {
			row[i] = v ^ fg
		}
		return row
	}
	fgbg := func(src []uint32, fg uint32) []uint32 {
		row := slices.Clone(src)
		for i := range row {
			if r.IntN(3) == 0 {
				row[i] ^= fg
			}
		}
		return row
	}
	base := noise()
	px = append(px, base, slices.Clone(base), xor(base, 0x15&mask), xor(xor(base, 0x15&mask), 0x15&mask))
	dither := make([]uint32, w)
	for i := range dither {
		dither[i] = []uint32{0x0A & mask, 0x50 & mask}[i%2]
	}
	px = append(px, dither, fgbg(dither, 0x15&mask), fgbg(dither, 0x2A&mask), noise(), slices.Repeat([]uint32{0x11 & mask}, w))
	return fromWire(px, bpp)
}

// specialsImage holds rows whose bitmasks are those of the special orders, isolated white and
// black pixels, and short foreground runs after background runs.
func specialsImage(bpp int) *image.RGBA {
	mask := uint32(1)<<bpp - 1
	var px [][]uint32
	a := []uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	fg := mask // the initial foreground colour is white
	mk := func(src []uint32, m uint8) []uint32 {
		row := slices.Clone(src)
		for k := range 8 {
			if m&(1<<k) != 0 {
				row[k] ^= fg
			}
			row[k+8] = uint32(0x40 + k) // neither background nor foreground: ends the FGBG image
		}
		return row
	}
	px = append(px, a, mk(a, maskSpecialFgBg1), a, mk(a, maskSpecialFgBg2))
	wb := []uint32{1, mask, 2, 0, 3, mask, 4, 0, 5, mask, 6, 0, 7, mask, 8, 0}
	px = append(px, wb, slices.Clone(wb))
	return fromWire(px, bpp)
}

// fromWire builds an image from rows of wire pixel values given in stream order.
func fromWire(rows [][]uint32, bpp int) *image.RGBA {
	h, w := len(rows), len(rows[0])
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for sy, row := range rows {
		y := h - 1 - sy
		for x, v := range row {
			var c color.RGBA
			switch bpp {
			case 8:
				c = DefaultPalette()[v&0xFF]
			case 15:
				c = color.RGBA{expand5[v>>10&31], expand5[v>>5&31], expand5[v&31], 0xFF}
			case 16:
				c = color.RGBA{expand5[v>>11&31], expand6[v>>5&63], expand5[v&31], 0xFF}
			default:
				c = color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xFF}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// toPaletted maps img to the default palette (exactly, for images built with fromWire at 8 bpp).
func toPaletted(img *image.RGBA) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = DefaultPalette()[i]
	}
	p := image.NewPaletted(img.Bounds(), pal)
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			p.SetColorIndex(x, y, uint8(pal.Index(img.RGBAAt(x, y))))
		}
	}
	return p
}

// expectedImage is what img decodes to at bpp after a lossless round trip.
func expectedImage(img image.Image, bpp int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			out.SetRGBA(x, y, quantize(c, bpp))
		}
	}
	return out
}

// encodeForTest runs the interleaved encoder and returns its order statistics as well.
func encodeForTest(img image.Image, bpp int) ([]byte, map[uint8]int, error) {
	px, w, h, err := wirePixels(img, bpp)
	if err != nil {
		return nil, nil, err
	}
	out, stats := encodeRLE(px, w, h, bpp)
	return out, stats, nil
}

func TestEncodeInterleavedErrors(t *testing.T) {
	if _, err := EncodeInterleaved(image.NewRGBA(image.Rect(0, 0, 2, 2)), 8); !errors.Is(err, ErrUnsupported) {
		t.Errorf("8 bpp from RGBA: %v", err)
	}
	if _, err := EncodeInterleaved(image.NewRGBA(image.Rect(0, 0, 2, 2)), 32); !errors.Is(err, ErrUnsupported) {
		t.Errorf("32 bpp: %v", err)
	}
	if _, err := EncodeInterleaved(image.NewRGBA(image.Rect(0, 0, 0, 2)), 16); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty image: %v", err)
	}
}
