package bitmap

import (
	"image"
	"image/color"
)

// The encoders below exist for tests and for load generation (synthetic recordings): they produce
// valid streams that exercise the decoders, not the smallest ones a server would send.

// EncodeUncompressed returns img as an uncompressed bitmap data stream at bpp: bottom-up
// scanlines padded to a multiple of 4 bytes. At 8 bpp img must be an *image.Paletted, whose
// indexes are written (its palette is not); at 15, 16 and 24 bpp colours lose their low bits; at
// 32 bpp the fourth byte is the alpha (non-premultiplied).
func EncodeUncompressed(img image.Image, bpp int) ([]byte, error) {
	px, w, h, err := wirePixels(img, bpp)
	if err != nil {
		return nil, err
	}
	psize := bytesPerPixel(bpp)
	stride := (w*psize + 3) &^ 3
	out := make([]byte, stride*h)
	for y := range h {
		row := out[y*stride:]
		for x, v := range px[y*w : (y+1)*w] {
			for k := range psize {
				row[x*psize+k] = uint8(v >> (8 * k))
			}
		}
	}
	return out, nil
}

// EncodeInterleaved compresses img with Interleaved RLE at bpp 8 (img an *image.Paletted), 15, 16
// or 24. The encoder is greedy and uses every kind of order where it pays.
func EncodeInterleaved(img image.Image, bpp int) ([]byte, error) {
	if bpp == 32 {
		return nil, unsupported("Interleaved RLE at 32 bpp (use EncodePlanar)")
	}
	px, w, h, err := wirePixels(img, bpp)
	if err != nil {
		return nil, err
	}
	out, _ := encodeRLE(px, w, h, bpp)
	return out, nil
}

// PlanarOptions selects the features of an RDP 6.0 planar stream.
type PlanarOptions struct {
	// RLE compresses the planes; without it they are sent raw.
	RLE bool
	// Alpha sends the alpha plane; without it the stream says NA (no alpha) and decodes opaque.
	Alpha bool
	// ColorLossLevel 0 sends ARGB planes; 1 to 7 sends AYCoCg planes with the chroma reduced by
	// that many bits (lossy).
	ColorLossLevel int
	// ChromaSubsampling halves the chroma planes in both directions (lossy); it needs a
	// ColorLossLevel.
	ChromaSubsampling bool
}

// EncodePlanar returns img as an RDP 6.0 bitmap stream (32 bpp).
func EncodePlanar(img image.Image, o PlanarOptions) ([]byte, error) {
	switch {
	case o.ColorLossLevel < 0 || o.ColorLossLevel > 7:
		return nil, unsupported("colour loss level %d, want 0 to 7", o.ColorLossLevel)
	case o.ChromaSubsampling && o.ColorLossLevel == 0:
		return nil, unsupported("chroma subsampling without a colour loss level")
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	// Planes in stream order (bottom-up).
	pa, p1 := make([]byte, w*h), make([]byte, w*h)
	p2, p3 := make([]byte, w*h), make([]byte, w*h)
	for y := range h {
		for x := range w {
			c := nrgbaAt(img, b.Min.X+x, b.Max.Y-1-y)
			i := y*w + x
			pa[i] = c.A
			if o.ColorLossLevel == 0 {
				p1[i], p2[i], p3[i] = c.R, c.G, c.B
				continue
			}
			r, g, bl := int(c.R), int(c.G), int(c.B)
			if !o.Alpha {
				r, bl = bl, r // the decoder swaps red and blue back for bitmaps without alpha
			}
			p1[i] = uint8((r + 2*g + bl) / 4)
			p2[i] = reduceChroma(r-bl, o.ColorLossLevel)          // Co = R - B
			p3[i] = reduceChroma((2*g-r-bl)>>1, o.ColorLossLevel) // Cg = G - R/2 - B/2
		}
	}
	cw, ch := w, h
	if o.ChromaSubsampling {
		cw, ch = (w+1)/2, (h+1)/2
		p2, p3 = subsample(p2, w, h, o.ColorLossLevel), subsample(p3, w, h, o.ColorLossLevel)
	}
	hdr := uint8(o.ColorLossLevel)
	if o.ChromaSubsampling {
		hdr |= planarCS
	}
	if o.RLE {
		hdr |= planarRLE
	}
	if !o.Alpha {
		hdr |= planarNA
	}
	out := []byte{hdr}
	type plane struct {
		b    []byte
		w, h int
	}
	planes := []plane{{p1, w, h}, {p2, cw, ch}, {p3, cw, ch}}
	if o.Alpha {
		planes = append([]plane{{pa, w, h}}, planes...)
	}
	for _, p := range planes {
		if o.RLE {
			out = appendPlaneRLE(out, p.b, p.w, p.h)
		} else {
			out = append(out, p.b...)
		}
	}
	if !o.RLE {
		out = append(out, 0) // Pad
	}
	return out, nil
}

// reduceChroma applies colour loss reduction (MS-RDPEGDI 3.1.9.1.4) to a chroma value in
// [-255, 255]: its 9-bit two's complement form shifted right by cll bits, zeros coming in.
func reduceChroma(v, cll int) uint8 {
	return uint8((v & 0x1FF) >> cll)
}

// subsample halves a chroma plane in both directions, averaging each 2×2 block of reduced values
// as signed numbers.
func subsample(p []byte, w, h, cll int) []byte {
	cw, ch := (w+1)/2, (h+1)/2
	out := make([]byte, cw*ch)
	for y := range ch {
		for x := range cw {
			sum, n := 0, 0
			for dy := range 2 {
				for dx := range 2 {
					if sx, sy := 2*x+dx, 2*y+dy; sx < w && sy < h {
						sum += signedChroma(p[sy*w+sx], cll)
						n++
					}
				}
			}
			out[y*cw+x] = uint8(sum / n)
		}
	}
	return out
}

// signedChroma reads a reduced chroma byte back as the signed number it stands for.
func signedChroma(v uint8, cll int) int { return int(int8(v<<uint(cll-1))) >> uint(cll-1) }

// appendPlaneRLE appends a plane (w × h, stream order) as RDP6_RLE_SEGMENTS: absolute values on
// the first scanline, deltas from the scanline before on the others.
func appendPlaneRLE(out, p []byte, w, h int) []byte {
	e := make([]byte, w)
	for y := range h {
		row := p[y*w : (y+1)*w]
		if y == 0 {
			copy(e, row)
		} else {
			prev := p[(y-1)*w : y*w]
			for x := range row {
				d := int(int8(row[x] - prev[x]))
				if d >= 0 {
					e[x] = uint8(2 * d)
				} else {
					e[x] = uint8(-2*d - 1)
				}
			}
		}
		out = appendScanlineRLE(out, e)
	}
	return out
}

// appendScanlineRLE encodes one scanline of values into RLE segments. A run repeats the last raw
// value of its segment, or the value before the segment when it has none (0 at the start of the
// scanline), and must be at least 3 long.
func appendScanlineRLE(out, e []byte) []byte {
	var raw []byte
	last := uint8(0)
	for j := 0; j < len(e); {
		lv := last
		if len(raw) > 0 {
			lv = raw[len(raw)-1]
		}
		r := 0
		for j+r < len(e) && e[j+r] == lv {
			r++
		}
		if r >= 3 {
			if len(raw) > 0 {
				r = min(r, 15)
				out = append(out, uint8(len(raw)<<4|r))
				out = append(out, raw...)
				raw = raw[:0]
			} else {
				r = min(r, 47)
				switch {
				case r >= 32:
					out = append(out, uint8((r-32)<<4|2))
				case r >= 16:
					out = append(out, uint8((r-16)<<4|1))
				default:
					out = append(out, uint8(r))
				}
			}
			last = lv
			j += r
			continue
		}
		raw = append(raw, e[j])
		j++
		if len(raw) == 15 {
			out = append(out, 15<<4)
			out = append(out, raw...)
			last, raw = raw[14], raw[:0]
		}
	}
	if len(raw) > 0 {
		out = append(out, uint8(len(raw)<<4))
		out = append(out, raw...)
	}
	return out
}

// nrgbaAt returns the non-premultiplied colour of a pixel, quickly for *image.RGBA.
func nrgbaAt(img image.Image, x, y int) color.NRGBA {
	if m, ok := img.(*image.RGBA); ok {
		c := m.RGBAAt(x, y)
		if c.A == 0xFF {
			return color.NRGBA(c)
		}
	}
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// wirePixels converts img to pixel values as sent at bpp, in stream order (bottom-up).
func wirePixels(img image.Image, bpp int) (px []uint32, w, h int, err error) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	if err := checkSize(w, h); err != nil {
		return nil, 0, 0, err
	}
	pal, _ := img.(*image.Paletted)
	switch bpp {
	case 8:
		if pal == nil {
			return nil, 0, 0, unsupported("8 bpp needs an *image.Paletted, not %T", img)
		}
	case 15, 16, 24, 32:
	default:
		return nil, 0, 0, unsupported("colour depth %d bpp", bpp)
	}
	px = make([]uint32, w*h)
	for y := range h {
		sy := b.Max.Y - 1 - y
		for x := range w {
			if bpp == 8 {
				px[y*w+x] = uint32(pal.ColorIndexAt(b.Min.X+x, sy))
				continue
			}
			c := nrgbaAt(img, b.Min.X+x, sy)
			r, g, bl := uint32(c.R), uint32(c.G), uint32(c.B)
			var v uint32
			switch bpp {
			case 15:
				v = r>>3<<10 | g>>3<<5 | bl>>3
			case 16:
				v = r>>3<<11 | g>>2<<5 | bl>>3
			case 24:
				v = r<<16 | g<<8 | bl
			case 32:
				v = uint32(c.A)<<24 | r<<16 | g<<8 | bl
			}
			px[y*w+x] = v
		}
	}
	return px, w, h, nil
}

// rleEncoder is a greedy Interleaved RLE encoder that mirrors the decoder's state (position,
// foreground colour, first-line and insert-foreground-pixel flags) to pick orders that decode to
// the input exactly.
type rleEncoder struct {
	v        []uint32
	w, psize int
	white    uint32
	out      []byte
	pos      int
	fg       uint32
	lit      []uint32 // pending pixels of a colour image order
	// lastBg and lastStart describe the last order written: whether it was a background run,
	// and where it started.
	lastBg    bool
	lastStart int
	stats     map[uint8]int
}

// encodeRLE encodes w × h pixel values (stream order) at bpp and returns the stream and how many
// orders of each code it used (mega-mega and special codes as themselves, regular and lite ones
// as their 3- or 4-bit code).
func encodeRLE(v []uint32, w, h, bpp int) ([]byte, map[uint8]int) {
	e := &rleEncoder{v: v, w: w, psize: bytesPerPixel(bpp), white: uint32(1)<<bpp - 1,
		fg: uint32(1)<<bpp - 1, stats: map[uint8]int{}}
	n := w * h
	for e.pos < n {
		if !e.step() {
			e.lit = append(e.lit, v[e.pos])
			e.pos++
			if len(e.lit) == 0xFFFF {
				e.flushLiterals()
			}
		}
	}
	e.flushLiterals()
	return e.out, e.stats
}

// bg is the value a background pixel at p has: black on the first scanline, else the pixel above.
func (e *rleEncoder) bg(p int, first bool) uint32 {
	if first {
		return 0
	}
	return e.v[p-e.w]
}

// candidate is an order the encoder could emit at the current position.
type candidate struct {
	kind   int // one of the cand* constants
	pixels int
	cost   int
	fg     uint32
	a, b   uint32
	mask   uint8
}

const (
	candBg = iota
	candFg
	candSetFg
	candColor
	candDither
	candFgBg
	candSetFgBg
	candSpecial
	candWhite
	candBlack
)

// step emits the best order at the current position, flushing pending literals first, and
// reports whether it found one worth more than a literal pixel.
func (e *rleEncoder) step() bool {
	first, insertFg := e.state()
	best, bestGain := candidate{}, 0
	consider := func(c candidate) {
		if c.pixels <= 0 {
			return
		}
		if gain := c.pixels*e.psize - c.cost; gain > bestGain {
			best, bestGain = c, gain
		}
	}
	n, p0 := len(e.v), e.pos
	limit := min(n, p0+0xFFFF)

	// Background run.
	{
		p := p0
		ok := true
		if insertFg {
			ok = e.v[p] == e.bg(p, first)^e.fg
			p++
		}
		if ok {
			for p < limit && e.v[p] == e.bg(p, first) {
				p++
			}
			consider(candidate{kind: candBg, pixels: p - p0, cost: runCost(p-p0, 31)})
		}
	}
	// Foreground runs, with the current foreground colour or a new one.
	fgRun := func(fg uint32) int {
		p := p0
		for p < limit && e.v[p] == e.bg(p, first)^fg {
			p++
		}
		return p - p0
	}
	consider(candidate{kind: candFg, pixels: fgRun(e.fg), cost: runCost(fgRun(e.fg), 31), fg: e.fg})
	if nfg := e.v[p0] ^ e.bg(p0, first); nfg != e.fg && nfg != 0 {
		l := fgRun(nfg)
		consider(candidate{kind: candSetFg, pixels: l, cost: runCost(l, 15) + e.psize, fg: nfg})
	}
	// Colour run.
	{
		p := p0
		for p < limit && e.v[p] == e.v[p0] {
			p++
		}
		consider(candidate{kind: candColor, pixels: p - p0, cost: runCost(p-p0, 31) + e.psize, a: e.v[p0]})
	}
	// Dithered run: pairs of two different colours.
	if p0+3 < n && e.v[p0] != e.v[p0+1] {
		a, b := e.v[p0], e.v[p0+1]
		pairs := 0
		for p := p0; p+1 < n && pairs < 0xFFFF && e.v[p] == a && e.v[p+1] == b; p += 2 {
			pairs++
		}
		if pairs >= 2 {
			consider(candidate{kind: candDither, pixels: 2 * pairs, cost: runCost(pairs, 15) + 2*e.psize, a: a, b: b})
		}
	}
	// Foreground/background images, with the current foreground colour or a new one.
	fgbg := func(fg uint32) int {
		p := p0
		for p < limit {
			bg := e.bg(p, first)
			if e.v[p] != bg && e.v[p] != bg^fg {
				break
			}
			p++
		}
		return p - p0
	}
	if l := fgbg(e.fg); l > 0 {
		consider(candidate{kind: candFgBg, pixels: l, cost: fgbgCost(l, 31) + (l+7)/8, fg: e.fg})
	}
	for p := p0; p < min(limit, p0+8); p++ {
		if nfg := e.v[p] ^ e.bg(p, first); nfg != 0 {
			if nfg != e.fg {
				l := fgbg(nfg)
				consider(candidate{kind: candSetFgBg, pixels: l, cost: fgbgCost(l, 15) + (l+7)/8 + e.psize, fg: nfg})
			}
			break
		}
	}
	// Special FGBG images of 8 pixels with fixed bitmasks.
	if p0+8 <= n {
		for _, m := range []uint8{maskSpecialFgBg1, maskSpecialFgBg2} {
			ok := true
			for k := range 8 {
				want := e.bg(p0+k, first)
				if m&(1<<k) != 0 {
					want ^= e.fg
				}
				if e.v[p0+k] != want {
					ok = false
					break
				}
			}
			if ok {
				// Worth a little more than the equivalent FGBG image, so that it is chosen.
				consider(candidate{kind: candSpecial, pixels: 8, cost: 0, mask: m})
			}
		}
	}
	// Single white or black pixels, when nothing longer fits.
	if bestGain < e.psize {
		switch e.v[p0] {
		case e.white:
			consider(candidate{kind: candWhite, pixels: 1, cost: 0})
		case 0:
			consider(candidate{kind: candBlack, pixels: 1, cost: 0})
		}
	}
	if bestGain <= 0 || (len(e.lit) > 0 && bestGain <= 1) {
		return false
	}
	e.flushLiterals()
	e.emit(best)
	return true
}

// runCost is the header size of a run of n with a direct length of up to max (31 regular, 15
// lite): 1 byte, 2 with an extended length, 3 for mega-mega.
func runCost(n, max int) int {
	switch {
	case n <= max:
		return 1
	case n <= max+256:
		return 2
	}
	return 3
}

// fgbgCost is the header size of an FGBG image of n pixels: the direct length counts groups of 8.
func fgbgCost(n, max int) int {
	switch {
	case n%8 == 0 && n/8 <= max:
		return 1
	case n <= 256:
		return 2
	}
	return 3
}

// state returns the decoder's first-line and insert-foreground-pixel flags for an order starting
// at the current position, after any pending colour image. The decoder leaves the first line when
// an order starts at or past the end of the first scanline, which also cancels the insertion a
// background run asked for; an order other than a background run cancels it too.
func (e *rleEncoder) state() (first, insertFg bool) {
	first = e.pos < e.w
	insertFg = len(e.lit) == 0 && e.lastBg && !(e.lastStart < e.w && e.pos >= e.w)
	return first, insertFg
}

func (e *rleEncoder) flushLiterals() {
	if len(e.lit) == 0 {
		return
	}
	e.header(regularColorImage, megaMegaColorImage, len(e.lit), 31)
	for _, v := range e.lit {
		e.pixel(v)
	}
	e.lastBg, e.lastStart = false, e.pos-len(e.lit)
	e.lit = e.lit[:0]
}

func (e *rleEncoder) emit(c candidate) {
	first := e.pos < e.w
	switch c.kind {
	case candBg:
		e.header(regularBgRun, megaMegaBgRun, c.pixels, 31)
	case candFg:
		e.header(regularFgRun, megaMegaFgRun, c.pixels, 31)
	case candSetFg:
		e.liteHeader(liteSetFgFgRun, megaMegaSetFgRun, c.pixels)
		e.pixel(c.fg)
		e.fg = c.fg
	case candColor:
		e.header(regularColorRun, megaMegaColorRun, c.pixels, 31)
		e.pixel(c.a)
	case candDither:
		e.liteHeader(liteDitheredRun, megaMegaDitheredRun, c.pixels/2)
		e.pixel(c.a)
		e.pixel(c.b)
	case candFgBg, candSetFgBg:
		if c.kind == candSetFgBg {
			e.fgbgHeader(liteSetFgFgBgImage, megaMegaSetFgBgImage, c.pixels, 15, 4)
			e.pixel(c.fg)
			e.fg = c.fg
		} else {
			e.fgbgHeader(regularFgBgImage, megaMegaFgBgImage, c.pixels, 31, 5)
		}
		for p := e.pos; p < e.pos+c.pixels; p += 8 {
			var m uint8
			for k := 0; k < 8 && p+k < e.pos+c.pixels; k++ {
				if e.v[p+k] != e.bg(p+k, first) {
					m |= 1 << k
				}
			}
			e.out = append(e.out, m)
		}
	case candSpecial:
		code := uint8(specialFgBg1)
		if c.mask == maskSpecialFgBg2 {
			code = specialFgBg2
		}
		e.out = append(e.out, code)
		e.stats[code]++
	case candWhite:
		e.out = append(e.out, specialWhite)
		e.stats[specialWhite]++
	case candBlack:
		e.out = append(e.out, specialBlack)
		e.stats[specialBlack]++
	}
	e.lastBg, e.lastStart = c.kind == candBg, e.pos
	e.pos += c.pixels
}

// header writes a regular order (3-bit code, 5-bit length) or its mega-mega form.
func (e *rleEncoder) header(code, mega uint8, n, max int) {
	switch {
	case n <= max:
		e.out = append(e.out, code<<5|uint8(n))
		e.stats[code]++
	case n <= max+256:
		e.out = append(e.out, code<<5, uint8(n-max-1))
		e.stats[code]++
	default:
		e.out = append(e.out, mega, uint8(n), uint8(n>>8))
		e.stats[mega]++
	}
}

// liteHeader writes a lite order (4-bit code, 4-bit length) or its mega-mega form.
func (e *rleEncoder) liteHeader(code, mega uint8, n int) {
	switch {
	case n <= 15:
		e.out = append(e.out, code<<4|uint8(n))
		e.stats[code]++
	case n <= 15+256:
		e.out = append(e.out, code<<4, uint8(n-16))
		e.stats[code]++
	default:
		e.out = append(e.out, mega, uint8(n), uint8(n>>8))
		e.stats[mega]++
	}
}

// fgbgHeader writes an FGBG image order of n pixels: regular (shift 5) or lite (shift 4).
func (e *rleEncoder) fgbgHeader(code, mega uint8, n, max int, shift uint) {
	switch {
	case n%8 == 0 && n/8 <= max:
		e.out = append(e.out, code<<shift|uint8(n/8))
		e.stats[code]++
	case n <= 256:
		e.out = append(e.out, code<<shift, uint8(n-1))
		e.stats[code]++
	default:
		e.out = append(e.out, mega, uint8(n), uint8(n>>8))
		e.stats[mega]++
	}
}

func (e *rleEncoder) pixel(v uint32) {
	for k := range e.psize {
		e.out = append(e.out, uint8(v>>(8*k)))
	}
}
