package bitmap

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"reflect"
	"testing"
)

// A bitmap update with three rectangles, written by hand from MS-RDPBCGR 2.2.9.1.1.3.1.2.
var updateBytes = []byte{
	0x01, 0x00, // updateType UPDATETYPE_BITMAP
	0x03, 0x00, // numberRectangles
	// 1: uncompressed 2×1 at 16 bpp, destination (10,20)-(11,20)
	0x0A, 0x00, 0x14, 0x00, 0x0B, 0x00, 0x14, 0x00, // dest
	0x02, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, // width height bpp flags
	0x04, 0x00, // bitmapLength
	0x00, 0xF8, 0xE0, 0x07, // red, green
	// 2: compressed 4×2 at 8 bpp with a TS_CD_HEADER, destination 3×2
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00,
	0x04, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00,
	0x0B, 0x00, // bitmapLength: 8 + 3
	0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x08, 0x00, // cbCompFirstRowSize, cbCompMainBodySize, cbScanWidth, cbUncompressedSize
	0x68, 0x07, 0xFE, // REGULAR_COLOR_RUN 8 of 07, then a BLACK that overflows: see the test
	// 3: compressed 1×1 at 24 bpp without the header
	0x05, 0x00, 0x06, 0x00, 0x05, 0x00, 0x06, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x18, 0x00, 0x01, 0x04,
	0x01, 0x00,
	0xFD, // WHITE
	0xAA, // trailing byte, ignored
}

func TestParseBitmapUpdate(t *testing.T) {
	rects, err := ParseBitmapUpdate(updateBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rectangle{
		{DestLeft: 10, DestTop: 20, DestRight: 11, DestBottom: 20, Width: 2, Height: 1, BitsPerPixel: 16, Data: []byte{0x00, 0xF8, 0xE0, 0x07}},
		{DestRight: 2, DestBottom: 1, Width: 4, Height: 2, BitsPerPixel: 8, Flags: FlagCompression,
			Header: &CompressedDataHeader{MainBodySize: 3, ScanWidth: 4, UncompressedSize: 8}, Data: []byte{0x68, 0x07, 0xFE}},
		{DestLeft: 5, DestTop: 6, DestRight: 5, DestBottom: 6, Width: 1, Height: 1, BitsPerPixel: 24, Flags: FlagCompression | FlagNoCompressionHeader, Data: []byte{0xFD}},
	}
	if !reflect.DeepEqual(rects, want) {
		t.Fatalf("got %+v\nwant %+v", rects, want)
	}

	img := mustDecode(t, Options{}, rects[0])
	if img.RGBAAt(0, 0) != (color.RGBA{0xFF, 0, 0, 0xFF}) || img.RGBAAt(1, 0) != (color.RGBA{0, 0xFF, 0, 0xFF}) {
		t.Errorf("rectangle 0: %v %v", img.RGBAAt(0, 0), img.RGBAAt(1, 0))
	}
	if got := rects[0].Dest(); got != image.Rect(10, 20, 12, 21) {
		t.Errorf("rectangle 0 Dest() = %v", got)
	}
	if _, err := Decode(rects[1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("rectangle 1 writes 9 pixels into 8: %v", err)
	}
	rects[1].Data = rects[1].Data[:2]
	img = mustDecode(t, Options{}, rects[1])
	if img.Bounds() != image.Rect(0, 0, 3, 2) || img.RGBAAt(2, 1) != DefaultPalette()[7] {
		t.Errorf("rectangle 1: %v %v", img.Bounds(), img.RGBAAt(2, 1))
	}
	if got := rects[1].Dest(); got != image.Rect(0, 0, 3, 2) {
		t.Errorf("rectangle 1 Dest() = %v", got)
	}
	img = mustDecode(t, Options{}, rects[2])
	if img.RGBAAt(0, 0) != (color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("rectangle 2: %v", img.RGBAAt(0, 0))
	}
}

func TestParseBitmapUpdateErrors(t *testing.T) {
	rect := func(flags, length uint16, data ...byte) []byte {
		b := []byte{0x01, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 8, 0, byte(flags), byte(flags >> 8), byte(length), byte(length >> 8)}
		return append(b, data...)
	}
	tests := map[string]struct {
		b    []byte
		want error
	}{
		"empty":                     {nil, ErrMalformed},
		"three bytes":               {[]byte{1, 0, 1}, ErrMalformed},
		"palette update":            {[]byte{2, 0, 0, 0}, ErrUnsupported},
		"rectangle missing":         {[]byte{1, 0, 1, 0}, ErrMalformed},
		"rectangle header cut":      {rect(0, 1)[:15], ErrMalformed},
		"bitmapLength past the end": {rect(0, 2, 0xFF), ErrMalformed},
		"header too short":          {rect(FlagCompression, 7, 0, 0, 0, 0, 0, 0, 0), ErrMalformed},
		"main body past the end":    {rect(FlagCompression, 9, 0, 0, 2, 0, 1, 0, 1, 0, 0xFD), ErrMalformed},
		"second rectangle missing":  {append([]byte{1, 0, 2, 0}, rect(0, 1, 0)[4:]...), ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseBitmapUpdate(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if rects, err := ParseBitmapUpdate([]byte{1, 0, 0, 0}); err != nil || len(rects) != 0 {
		t.Errorf("no rectangles: %v %v", rects, err)
	}
}

func TestAppendBitmapUpdate(t *testing.T) {
	rects, err := ParseBitmapUpdate(updateBytes)
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendBitmapUpdate(nil, rects)
	if err != nil {
		t.Fatal(err)
	}
	if want := updateBytes[:len(updateBytes)-1]; !bytes.Equal(out, want) {
		t.Fatalf("marshalled\n% x\nwant\n% x", out, want)
	}
	// A computed header.
	r := Rectangle{Width: 4, Height: 2, BitsPerPixel: 16, Flags: FlagCompression, Data: []byte{1, 2, 3}}
	out, err = AppendBitmapUpdate([]byte{0xEE}, []Rectangle{r})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBitmapUpdate(out[1:])
	if err != nil {
		t.Fatal(err)
	}
	if h := back[0].Header; h == nil || *h != (CompressedDataHeader{MainBodySize: 3, ScanWidth: 8, UncompressedSize: 16}) || !bytes.Equal(back[0].Data, r.Data) {
		t.Errorf("computed header: %+v", back[0])
	}
	if _, err := AppendBitmapUpdate(nil, []Rectangle{{Data: make([]byte, 0x10000)}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("65536 bytes of data: %v", err)
	}
	if _, err := AppendBitmapUpdate(nil, []Rectangle{{Flags: FlagCompression, Data: make([]byte, 0xFFF8)}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("65528 bytes of data and a header: %v", err)
	}
}

func TestParsePaletteUpdate(t *testing.T) {
	b := []byte{0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60}
	p, err := ParsePaletteUpdate(b)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != (color.RGBA{0x10, 0x20, 0x30, 0xFF}) || p[1] != (color.RGBA{0x40, 0x50, 0x60, 0xFF}) || p[2] != (color.RGBA{0, 0, 0, 0xFF}) {
		t.Errorf("palette %v %v %v", p[0], p[1], p[2])
	}
	full := append([]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}, make([]byte, 768)...)
	full[8+3*255] = 0xAB
	if p, err := ParsePaletteUpdate(full); err != nil || p[255].R != 0xAB {
		t.Errorf("256 colours: %v", err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short":         {b[:7], ErrMalformed},
		"bitmap update": {append([]byte{1}, b[1:]...), ErrUnsupported},
		"257 colours":   {[]byte{2, 0, 0, 0, 0x01, 0x01, 0, 0}, ErrMalformed},
		"entries cut":   {b[:13], ErrMalformed},
	} {
		if _, err := ParsePaletteUpdate(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestDecodeUncompressed(t *testing.T) {
	pal := DefaultPalette()
	pal[1], pal[2], pal[3] = color.RGBA{1, 1, 1, 0xFF}, color.RGBA{2, 2, 2, 0xFF}, color.RGBA{3, 3, 3, 0xFF}
	tests := map[string]struct {
		w, h, bpp int
		opts      Options
		data      []byte
		want      [][]color.RGBA
	}{
		"8 bpp rows padded to 4 bytes, bottom-up": {w: 3, h: 2, bpp: 8, opts: Options{Palette: pal},
			data: []byte{1, 2, 3, 0xEE, 3, 2, 1, 0xEE},
			want: [][]color.RGBA{{pal[3], pal[2], pal[1]}, {pal[1], pal[2], pal[3]}}},
		"8 bpp without padding": {w: 3, h: 2, bpp: 8, opts: Options{Palette: pal},
			data: []byte{1, 2, 3, 3, 2, 1},
			want: [][]color.RGBA{{pal[3], pal[2], pal[1]}, {pal[1], pal[2], pal[3]}}},
		"15 bpp": {w: 2, h: 1, bpp: 15, data: []byte{0x1F, 0x00, 0xE0, 0x03},
			want: [][]color.RGBA{{rgb(0, 0, 0xFF), rgb(0, 0xFF, 0)}}},
		"16 bpp": {w: 2, h: 1, bpp: 16, data: []byte{0x00, 0xF8, 0x41, 0x08},
			want: [][]color.RGBA{{rgb(0xFF, 0, 0), rgb(0x08, 0x08, 0x08)}}},
		"24 bpp padded": {w: 1, h: 2, bpp: 24, data: []byte{1, 2, 3, 0, 4, 5, 6, 0},
			want: [][]color.RGBA{{rgb(6, 5, 4)}, {rgb(3, 2, 1)}}},
		"32 bpp opaque by default": {w: 1, h: 1, bpp: 32, data: []byte{1, 2, 3, 0},
			want: [][]color.RGBA{{rgb(3, 2, 1)}}},
		"32 bpp with alpha": {w: 2, h: 1, bpp: 32, opts: Options{Alpha: true}, data: []byte{0, 0, 0xFF, 0x80, 10, 20, 30, 0xFF},
			want: [][]color.RGBA{{{0x80, 0, 0, 0x80}, rgb(30, 20, 10)}}},
		"default palette": {w: 1, h: 1, bpp: 8, data: []byte{0xE3, 0, 0, 0},
			want: [][]color.RGBA{{rgb(0xFF, 0, 0xFF)}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			img := mustDecode(t, tc.opts, rect(tc.w, tc.h, tc.bpp, 0, tc.data))
			got := pixels(img)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		r    Rectangle
		want error
	}{
		"short data":        {rect(2, 2, 16, 0, make([]byte, 7)), ErrMalformed},
		"4 bpp":             {rect(2, 2, 4, 0, make([]byte, 8)), ErrUnsupported},
		"zero bpp":          {rect(2, 2, 0, 0, make([]byte, 8)), ErrUnsupported},
		"zero width":        {Rectangle{Height: 1, BitsPerPixel: 8, DestBottom: 1}, ErrMalformed},
		"reversed dest":     {Rectangle{DestLeft: 5, DestRight: 4, Width: 1, Height: 1, BitsPerPixel: 8, Data: []byte{0}}, ErrMalformed},
		"too wide":          {rect(8193, 1, 8, 0, nil), ErrTooLarge},
		"too many bytes":    {rect(8192, 8192, 8, 0, nil), ErrTooLarge},
		"planar 32 bpp bad": {rect(1, 1, 32, FlagCompression, nil), ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The largest allowed bitmap decodes.
	if _, err := Decode(rect(8192, 2048, 8, 0, make([]byte, 8192*2048))); err != nil {
		t.Errorf("8192x2048: %v", err)
	}
}

func TestUncompressedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, bpp := range []int{8, 15, 16, 24, 32} {
		for _, size := range []image.Point{{1, 1}, {3, 5}, {64, 64}, {67, 13}} {
			var src image.Image = desktopImage(r, size.X, size.Y)
			if bpp == 8 {
				src = palettedImage(r, size.X, size.Y)
			}
			data, err := EncodeUncompressed(src, bpp)
			if err != nil {
				t.Fatal(err)
			}
			img := mustDecode(t, Options{}, rect(size.X, size.Y, bpp, 0, data))
			if err := diffImages(img, expectedImage(src, bpp), 0); err != nil {
				t.Errorf("%d bpp %v: %v", bpp, size, err)
			}
		}
	}
	if _, err := EncodeUncompressed(image.NewRGBA(image.Rect(0, 0, 1, 1)), 12); !errors.Is(err, ErrUnsupported) {
		t.Errorf("12 bpp: %v", err)
	}
}

func TestDestAndString(t *testing.T) {
	r := Rectangle{DestLeft: 100, DestTop: 50, DestRight: 160, DestBottom: 99, Width: 64, Height: 64, BitsPerPixel: 16, Flags: FlagCompression}
	if got, want := r.Dest(), image.Rect(100, 50, 161, 100); got != want {
		t.Errorf("Dest() = %v, want %v", got, want)
	}
	if got := (Rectangle{DestLeft: 3, DestRight: 2}).Dest(); !got.Empty() {
		t.Errorf("reversed Dest() = %v", got)
	}
	if s := r.String(); s != "bitmap 64x64 16bpp compressed (0 bytes) at (100,50)-(160,99)" {
		t.Errorf("String() = %q", s)
	}
}

func TestDefaultPaletteIsACopy(t *testing.T) {
	p := DefaultPalette()
	p[0] = color.RGBA{1, 2, 3, 4}
	if DefaultPalette()[0] == p[0] {
		t.Error("DefaultPalette shares its table")
	}
}
