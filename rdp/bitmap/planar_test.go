package bitmap

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"testing"
)

// pixels returns img's pixels top-down as RGBA values.
func pixels(img *image.RGBA) [][]color.RGBA {
	var out [][]color.RGBA
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		var row []color.RGBA
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			row = append(row, img.RGBAAt(x, y))
		}
		out = append(out, row)
	}
	return out
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xFF} }

// TestPlanarKnownAnswers decodes hand-written RDP6_BITMAP_STREAMs; the expected colours were
// worked out by hand from MS-RDPEGDI 2.2.2.5.1 and 3.1.9.
func TestPlanarKnownAnswers(t *testing.T) {
	tests := map[string]struct {
		w, h   int
		opts   Options
		stream []byte
		want   [][]color.RGBA // top-down
	}{
		"raw ARGB with alpha, opaque by default": {w: 2, h: 2, stream: []byte{
			0x00,                   // CLL 0 (ARGB), no CS, no RLE, alpha plane present
			0xFF, 0xFF, 0xFF, 0x80, // A, stream order (bottom row first)
			10, 20, 30, 40, // R
			11, 21, 31, 41, // G
			12, 22, 32, 42, // B
			0, // Pad
		}, want: [][]color.RGBA{{rgb(30, 31, 32), rgb(40, 41, 42)}, {rgb(10, 11, 12), rgb(20, 21, 22)}}},
		"raw ARGB keeping alpha, premultiplied": {w: 2, h: 2, opts: Options{Alpha: true}, stream: []byte{
			0x00, 0xFF, 0xFF, 0xFF, 0x80, 10, 20, 30, 40, 11, 21, 31, 41, 12, 22, 32, 42,
		}, want: [][]color.RGBA{{rgb(30, 31, 32), {20, 21, 21, 0x80}}, {rgb(10, 11, 12), rgb(20, 21, 22)}}},
		"RLE RGB, absolute first scanline then deltas": {w: 5, h: 2, stream: []byte{
			0x30,       // RLE, NA
			0x14, 0x05, // R row 0: raw 5, run 4 → 5 5 5 5 5
			0x23, 0x02, 0x01, // R row 1: deltas +1 -1, run 3 of -1 → 6 4 4 4 4
			0x05,                               // G row 0: run 5 of 0
			0x05,                               // G row 1: run 5 of delta 0
			0x50, 0x01, 0x02, 0x03, 0x04, 0x05, // B row 0: raw 1 2 3 4 5
			0x14, 0x01, // B row 1: delta -1, run 4 of -1 → 0 1 2 3 4
		}, want: [][]color.RGBA{
			{rgb(6, 0, 0), rgb(4, 0, 1), rgb(4, 0, 2), rgb(4, 0, 3), rgb(4, 0, 4)},
			{rgb(5, 0, 1), rgb(5, 0, 2), rgb(5, 0, 3), rgb(5, 0, 4), rgb(5, 0, 5)},
		}},
		"YCoCg CLL 1 without alpha swaps red and blue": {w: 1, h: 1, stream: []byte{
			0x21, 100, 10, 0xFE, 0, // Y=100, Co/2=10, Cg/2=-2: R=112 G=98 B=92, then swapped
		}, want: [][]color.RGBA{{rgb(92, 98, 112)}}},
		"YCoCg CLL 1 with alpha": {w: 1, h: 1, stream: []byte{
			0x01, 0xFF, 100, 10, 0xFE, 0,
		}, want: [][]color.RGBA{{rgb(112, 98, 92)}}},
		"YCoCg CLL 3 clamps": {w: 1, h: 1, stream: []byte{
			0x23, 128, 0x1F, 0x20, 0, // Co/2 = 0x1F<<2 = 124, Cg/2 = int8(0x20<<2) = -128: R=380 G=0 B=132
		}, want: [][]color.RGBA{{rgb(132, 0, 255)}}},
		"YCoCg chroma subsampling, odd size": {w: 3, h: 3, stream: []byte{
			0x29,                                        // CLL 1, CS, NA, raw
			100, 100, 100, 100, 100, 100, 100, 100, 100, // Y
			0, 10, 20, 30, // Co/2 on a 2×2 grid (stream order)
			0, 0, 0, 0, // Cg
			0,
		}, want: [][]color.RGBA{
			{rgb(80, 100, 120), rgb(80, 100, 120), rgb(70, 100, 130)},
			{rgb(100, 100, 100), rgb(100, 100, 100), rgb(90, 100, 110)},
			{rgb(100, 100, 100), rgb(100, 100, 100), rgb(90, 100, 110)},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			img := mustDecode(t, tc.opts, rect(tc.w, tc.h, 32, FlagCompression, tc.stream))
			got := pixels(img)
			for y := range tc.want {
				if !slices.Equal(got[y], tc.want[y]) {
					t.Errorf("row %d = %v, want %v", y, got[y], tc.want[y])
				}
			}
		})
	}
}

func TestPlaneRLERunLengths(t *testing.T) {
	tests := map[string]struct {
		w    int
		src  []byte
		want []byte
	}{
		"nRunLength 1 is 16 plus cRawBytes": {w: 47, src: []byte{0x1F, 0x09, 0xF1}, want: slices.Repeat([]byte{9}, 47)},
		"nRunLength 2 is 32 plus cRawBytes": {w: 33, src: []byte{0x10, 0x07, 0x02}, want: slices.Repeat([]byte{7}, 33)},
		"run at scanline start repeats 0":   {w: 3, src: []byte{0x03}, want: []byte{0, 0, 0}},
		"fifteen raw bytes":                 {w: 15, src: append([]byte{0xF0}, slices.Repeat([]byte{3}, 15)...), want: slices.Repeat([]byte{3}, 15)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := make([]byte, tc.w)
			n, err := decodePlaneRLE(tc.src, got, tc.w, 1)
			if err != nil || n != len(tc.src) || !slices.Equal(got, tc.want) {
				t.Errorf("got %v (%d bytes, %v), want %v", got, n, err, tc.want)
			}
		})
	}
	// Delta encoding: 2n for n >= 0, 2|n|-1 for n < 0, modulo 256.
	for v, want := range map[uint8]uint8{0: 0, 1: 0xFF, 2: 1, 3: 0xFE, 254: 127, 255: 0x80} {
		if planarDelta[v] != want {
			t.Errorf("delta byte %d = %d, want %d", v, planarDelta[v], want)
		}
	}
}

func TestPlanarErrors(t *testing.T) {
	tests := map[string]struct {
		w, h   int
		stream []byte
	}{
		"empty":                       {1, 1, nil},
		"chroma subsampling in ARGB":  {1, 1, []byte{0x28, 1, 2, 3, 0}},
		"raw plane truncated":         {2, 2, []byte{0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		"raw alpha plane truncated":   {2, 1, []byte{0x00, 1}},
		"zero control byte":           {2, 1, []byte{0x30, 0x00, 0x02, 0x02, 0x02}},
		"segment crosses scanline":    {2, 2, []byte{0x30, 0x04, 0x02, 0x02, 0x02, 0x02, 0x02}},
		"raw values missing":          {2, 1, []byte{0x30, 0x20, 1, 2, 0x20, 1, 2, 0x20, 1}},
		"RLE plane truncated":         {2, 2, []byte{0x30, 0x20, 1, 2, 0x20, 1, 2, 0x20, 1, 2, 0x20, 1, 2, 0x20, 1, 2}},
		"RLE stream too short":        {8192, 2048, []byte{0x30, 0x02}},
		"RLE with alpha truncated":    {1, 1, []byte{0x10, 0x10, 0xFF, 0x10, 0x01, 0x10}},
		"RLE third plane missing raw": {1, 1, []byte{0x30, 0x10, 0x01, 0x10, 0x01, 0x10}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(rect(tc.w, tc.h, 32, FlagCompression, tc.stream))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestPlanarRoundTrip encodes pictures with the test encoder in every mode and decodes them:
// exactly for ARGB planes, within the colour loss for AYCoCg.
func TestPlanarRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	translucent := noiseImage(r, 33, 17)
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = uint8(r.Uint32())
		for k := i - 3; k < i; k++ { // keep it a valid premultiplied image
			translucent.Pix[k] = min(translucent.Pix[k], translucent.Pix[i])
		}
	}
	images := []corpusImage{
		{"desktop 64x64", desktopImage(r, 64, 64)},
		{"desktop 130x47", desktopImage(r, 130, 47)},
		{"noise 5x3", noiseImage(r, 5, 3)},
		{"solid 1x1", solidImage(1, 1, color.RGBA{200, 100, 50, 0xFF})},
		{"gradient 31x9", gradientImage(31, 9)},
		{"wide solid 300x2", solidImage(300, 2, color.RGBA{7, 8, 9, 0xFF})},
	}
	for _, tc := range images {
		for _, o := range []PlanarOptions{{}, {RLE: true}, {Alpha: true}, {RLE: true, Alpha: true}} {
			data, err := EncodePlanar(tc.img, o)
			if err != nil {
				t.Fatal(err)
			}
			b := tc.img.Bounds()
			img := mustDecode(t, Options{}, rect(b.Dx(), b.Dy(), 32, FlagCompression, data))
			if err := diffImages(img, expectedImage(tc.img, 32), 0); err != nil {
				t.Errorf("%s %+v: %v", tc.name, o, err)
			}
		}
	}
	// Alpha survives when asked for.
	for _, rle := range []bool{false, true} {
		data, err := EncodePlanar(translucent, PlanarOptions{RLE: rle, Alpha: true})
		if err != nil {
			t.Fatal(err)
		}
		img := mustDecode(t, Options{Alpha: true}, rect(33, 17, 32, FlagCompression, data))
		if err := diffImages(img, translucent, 1); err != nil {
			t.Errorf("translucent, RLE %v: %v", rle, err)
		}
	}
	// Lossy modes on smooth pictures: the error grows with the colour loss level.
	for cll := 1; cll <= 7; cll++ {
		for _, cs := range []bool{false, true} {
			for _, alpha := range []bool{false, true} {
				for _, tc := range []corpusImage{{"gradient 64x64", gradientImage(64, 64)}, {"gradient 65x63", gradientImage(65, 63)}, {"solid", solidImage(9, 9, color.RGBA{0x33, 0x66, 0x99, 0xFF})}} {
					o := PlanarOptions{RLE: cll%2 == 0, Alpha: alpha, ColorLossLevel: cll, ChromaSubsampling: cs}
					data, err := EncodePlanar(tc.img, o)
					if err != nil {
						t.Fatal(err)
					}
					b := tc.img.Bounds()
					img := mustDecode(t, Options{}, rect(b.Dx(), b.Dy(), 32, FlagCompression, data))
					tol := 1<<cll + 2
					if cs {
						tol += 8
					}
					if err := diffImages(img, tc.img, tol); err != nil {
						t.Errorf("%s %+v: %v", tc.name, o, err)
					}
				}
			}
		}
	}
}

func TestEncodePlanarErrors(t *testing.T) {
	img := solidImage(2, 2, color.RGBA{1, 2, 3, 0xFF})
	for _, o := range []PlanarOptions{{ColorLossLevel: 8}, {ColorLossLevel: -1}, {ChromaSubsampling: true}} {
		if _, err := EncodePlanar(img, o); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestPlaneRLEEncoder checks the scanline encoder on awkward runs: lengths of 1 and 2 after raw
// bytes (not expressible as runs), runs longer than 47, 15 raw bytes in a row.
func TestPlaneRLEEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lines := [][]byte{
		{0}, {1}, {0, 0}, {0, 0, 0}, {5, 5}, {5, 5, 5}, {5, 5, 5, 5},
		slices.Repeat([]byte{0}, 100), slices.Repeat([]byte{9}, 100),
		append(slices.Repeat([]byte{1, 2}, 20), slices.Repeat([]byte{3}, 49)...),
	}
	for range 200 {
		line := make([]byte, 1+r.IntN(120))
		for i := range line {
			line[i] = uint8(r.IntN(3)) // many short runs
		}
		lines = append(lines, line)
	}
	for i, line := range lines {
		enc := appendScanlineRLE(nil, line)
		got := make([]byte, len(line))
		n, err := decodePlaneRLE(enc, got, len(line), 1)
		if err != nil || n != len(enc) || !slices.Equal(got, line) {
			t.Errorf("line %d %v: encoded % x, decoded %v (%d bytes, %v)", i, line, enc, got, n, err)
		}
	}
}

func ExampleEncodePlanar() {
	img := solidImage(4, 2, color.RGBA{0x33, 0x66, 0x99, 0xFF})
	data, _ := EncodePlanar(img, PlanarOptions{RLE: true})
	fmt.Printf("% x\n", data)
	out, _ := Decode(Rectangle{DestRight: 3, DestBottom: 1, Width: 4, Height: 2, BitsPerPixel: 32,
		Flags: FlagCompression | FlagNoCompressionHeader, Data: data})
	fmt.Println(out.RGBAAt(3, 1))
	// Output:
	// 30 13 33 04 13 66 04 13 99 04
	// {51 102 153 255}
}
