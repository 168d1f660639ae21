package bitmap

import (
	"fmt"
	"image"
)

// FormatHeader bits of RDP6_BITMAP_STREAM (MS-RDPEGDI 2.2.2.5.1).
const (
	planarCLLMask = 0x07 // CLL: colour loss level; 0 means ARGB planes, 1 to 7 AYCoCg
	planarCS      = 0x08 // CS: chroma subsampling (AYCoCg only)
	planarRLE     = 0x10 // RLE: the planes are RDP6_RLE_SEGMENTS
	planarNA      = 0x20 // NA: no alpha plane

	// maxPlanarRun is the longest segment one RLE control byte describes (15 raw values, or a
	// run of 47).
	maxPlanarRun = 47
)

// planarDelta maps an RLE delta byte of a planar scanline to the difference it encodes, modulo
// 256 (MS-RDPEGDI 3.1.9.2: the sign moved to the least significant bit, 2n for n >= 0 and
// 2|n|-1 for n < 0). It is read-only.
var planarDelta = func() (t [256]uint8) {
	for v := range t {
		if v&1 != 0 {
			t[v] = uint8(-(v >> 1) - 1)
		} else {
			t[v] = uint8(v >> 1)
		}
	}
	return t
}()

// decodePlanar decodes an RDP 6.0 bitmap stream (32 bpp) of w × h pixels into an image of the
// top-left ow × oh pixels. The planes hold the bitmap bottom-up like every bitmap update.
func (o Options) decodePlanar(data []byte, w, h, ow, oh int) (*image.RGBA, error) {
	if len(data) == 0 {
		return nil, malformed("empty planar bitmap stream")
	}
	hdr := data[0]
	cll := int(hdr & planarCLLMask)
	cs, rle, alpha := hdr&planarCS != 0, hdr&planarRLE != 0, hdr&planarNA == 0
	if cs && cll == 0 {
		return nil, malformed("planar format header 0x%02x: chroma subsampling needs a colour loss level", hdr)
	}
	cw, ch := w, h // size of the chroma (or green and blue) planes
	if cs {
		cw, ch = (w+1)/2, (h+1)/2
	}
	type plane struct {
		w, h int
		b    []byte
	}
	planes := make([]plane, 0, 4)
	if alpha {
		planes = append(planes, plane{w: w, h: h})
	}
	planes = append(planes, plane{w: w, h: h}, plane{w: cw, h: ch}, plane{w: cw, h: ch})

	src := data[1:]
	if rle {
		least := 0
		for _, p := range planes {
			least += p.h * ((p.w + maxPlanarRun - 1) / maxPlanarRun)
		}
		if len(src) < least {
			return nil, malformed("planar RLE stream of %d bytes, a %dx%d bitmap needs at least %d", len(src), w, h, least)
		}
		total := 0
		for _, p := range planes {
			total += p.w * p.h
		}
		buf := make([]byte, total)
		for i := range planes {
			p := &planes[i]
			p.b, buf = buf[:p.w*p.h], buf[p.w*p.h:]
			n, err := decodePlaneRLE(src, p.b, p.w, p.h)
			if err != nil {
				return nil, planeError(i, alpha, err)
			}
			src = src[n:]
		}
		// Bytes after the last plane are ignored.
	} else {
		// Raw planes; a pad byte may follow.
		for i := range planes {
			p := &planes[i]
			n := p.w * p.h
			if len(src) < n {
				return nil, planeError(i, alpha, malformed("raw plane of %d bytes, %d left", n, len(src)))
			}
			p.b, src = src[:n], src[n:]
		}
	}

	var a []byte
	if alpha {
		a, planes = planes[0].b, planes[1:]
	}
	p1, p2, p3 := planes[0].b, planes[1].b, planes[2].b
	img := image.NewRGBA(image.Rect(0, 0, ow, oh))
	keepAlpha := o.Alpha && alpha
	shift := 0
	if cs {
		shift = 1
	}
	for y := range oh {
		sy := h - 1 - y // stream row: the planes are bottom-up
		dst := img.Pix[y*img.Stride : y*img.Stride+ow*4]
		row := sy * w
		crow := (sy >> shift) * cw
		switch {
		case cll == 0 && !keepAlpha:
			r, g, b := p1[row:row+ow], p2[row:row+ow], p3[row:row+ow]
			for x := range ow {
				*(*[4]byte)(dst[4*x:]) = [4]byte{r[x], g[x], b[x], 0xFF}
			}
		case cll == 0:
			for x := range ow {
				putRGBA(dst[4*x:4*x+4], p1[row+x], p2[row+x], p3[row+x], a[row+x])
			}
		default:
			for x := range ow {
				ci := crow + x>>shift
				r, g, b := ycocgToRGB(p1[row+x], p2[ci], p3[ci], cll, alpha)
				av := uint8(0xFF)
				if keepAlpha {
					av = a[row+x]
				}
				putRGBA(dst[4*x:4*x+4], r, g, b, av)
			}
		}
	}
	return img, nil
}

func planeError(i int, alpha bool, err error) error {
	names := []string{"luma or red", "orange chroma or green", "green chroma or blue"}
	if alpha {
		names = append([]string{"alpha"}, names...)
	}
	return fmt.Errorf("%s plane: %w", names[i], err)
}

// ycocgToRGB converts a pixel of AYCoCg planes with colour loss level cll (1 to 7) to RGB
// (MS-RDPEGDI 3.1.9.1.2 and 3.1.9.1.4). The chroma values were shifted right by cll bits as
// 9-bit two's complement numbers; shifting them back by cll-1 bits into 8 bits yields Co/2 and
// Cg/2, the halves the inverse transform uses:
//
//	R = Y + Co/2 - Cg/2,  G = Y + Cg/2,  B = Y - Co/2 - Cg/2
//
// Windows servers compute Co with red and blue exchanged when they convert 24 bpp bitmaps, which
// arrive without an alpha plane; the spec tells decoders to swap R and B back for those.
func ycocgToRGB(y, co, cg uint8, cll int, alpha bool) (r, g, b uint8) {
	s := uint(cll - 1)
	co2, cg2 := int(int8(co<<s)), int(int8(cg<<s))
	t := int(y) - cg2
	ri, gi, bi := t+co2, int(y)+cg2, t-co2
	if !alpha {
		ri, bi = bi, ri
	}
	return clamp8(ri), clamp8(gi), clamp8(bi)
}

func clamp8(v int) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 0xFF:
		return 0xFF
	}
	return uint8(v)
}

// decodePlaneRLE decodes one RDP6_RLE_SEGMENTS plane of w × h values into dst and returns how
// many bytes of src it used. Each scanline is a series of segments: a control byte (cRawBytes in
// the high nibble, nRunLength in the low one, where 1 and 2 stand for runs of 16 and 32 more
// than cRawBytes without raw bytes), the raw values, then a run repeating the last value. The
// first scanline holds absolute values, the others deltas from the scanline before.
func decodePlaneRLE(src, dst []byte, w, h int) (int, error) {
	i := 0
	for y := range h {
		row := dst[y*w : (y+1)*w]
		var prev []byte
		if y > 0 {
			prev = dst[(y-1)*w : y*w]
		}
		var last uint8 // the last raw value, or delta, of the scanline
		for x := 0; x < w; {
			if i >= len(src) {
				return 0, malformed("RLE plane ends at scanline %d of %d", y, h)
			}
			cb := src[i]
			i++
			raw, run := int(cb>>4), int(cb&0x0F)
			switch run {
			case 1:
				raw, run = 0, raw+16
			case 2:
				raw, run = 0, raw+32
			}
			switch {
			case cb == 0:
				return 0, malformed("zero RLE control byte at offset %d", i-1)
			case x+raw+run > w:
				return 0, malformed("RLE segment at offset %d crosses the end of scanline %d (%d+%d+%d > %d)", i-1, y, x, raw, run, w)
			case raw > len(src)-i:
				return 0, malformed("RLE segment at offset %d needs %d raw bytes, %d left", i-1, raw, len(src)-i)
			}
			rawVals := src[i : i+raw]
			if prev == nil {
				copy(row[x:x+raw], rawVals)
				x += raw
				if raw > 0 {
					last = rawVals[raw-1]
				}
				seg := row[x : x+run]
				for k := range seg {
					seg[k] = last
				}
			} else {
				seg, above := row[x:x+raw], prev[x:x+raw]
				for k, v := range rawVals {
					last = planarDelta[v]
					seg[k] = above[k] + last
				}
				x += raw
				seg, above = row[x:x+run], prev[x:x+run]
				if last == 0 {
					copy(seg, above)
				} else {
					for k := range seg {
						seg[k] = above[k] + last
					}
				}
			}
			x += run
			i += raw
		}
	}
	return i, nil
}
