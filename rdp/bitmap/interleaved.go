package bitmap

import "image"

// Order codes of the Interleaved RLE bitmap stream (MS-RDPBCGR 2.2.9.1.1.3.1.2.4). Regular
// orders keep the code in the top 3 bits of the header byte and a run length in the low 5, lite
// orders the code in the top 4 bits and a length in the low 4; mega-mega orders use the whole
// byte and a 16-bit length, special orders the whole byte and no length.
const (
	regularBgRun      = 0x0 // REGULAR_BG_RUN
	regularFgRun      = 0x1 // REGULAR_FG_RUN
	regularFgBgImage  = 0x2 // REGULAR_FGBG_IMAGE
	regularColorRun   = 0x3 // REGULAR_COLOR_RUN
	regularColorImage = 0x4 // REGULAR_COLOR_IMAGE

	liteSetFgFgRun     = 0xC // LITE_SET_FG_FG_RUN
	liteSetFgFgBgImage = 0xD // LITE_SET_FG_FGBG_IMAGE
	liteDitheredRun    = 0xE // LITE_DITHERED_RUN

	megaMegaBgRun        = 0xF0 // MEGA_MEGA_BG_RUN
	megaMegaFgRun        = 0xF1 // MEGA_MEGA_FG_RUN
	megaMegaFgBgImage    = 0xF2 // MEGA_MEGA_FGBG_IMAGE
	megaMegaColorRun     = 0xF3 // MEGA_MEGA_COLOR_RUN
	megaMegaColorImage   = 0xF4 // MEGA_MEGA_COLOR_IMAGE
	megaMegaSetFgRun     = 0xF6 // MEGA_MEGA_SET_FG_RUN
	megaMegaSetFgBgImage = 0xF7 // MEGA_MEGA_SET_FGBG_IMAGE
	megaMegaDitheredRun  = 0xF8 // MEGA_MEGA_DITHERED_RUN

	specialFgBg1 = 0xF9 // SPECIAL_FGBG_1: an FGBG image of 8 pixels with bitmask 0x03
	specialFgBg2 = 0xFA // SPECIAL_FGBG_2: an FGBG image of 8 pixels with bitmask 0x05
	specialWhite = 0xFD // WHITE: one white pixel
	specialBlack = 0xFE // BLACK: one black pixel

	maskSpecialFgBg1 = 0x03
	maskSpecialFgBg2 = 0x05

	// maxRLEPixelsPerByte bounds how many pixels one byte of stream can produce (a mega-mega
	// dithered run of 65535 pairs takes at least 5 bytes), to refuse a stream too short for its
	// bitmap before allocating.
	maxRLEPixelsPerByte = 2 * 0xFFFF / 5
)

// decodeInterleaved decodes an Interleaved RLE stream of w × h pixels and returns the top-left
// ow × oh pixels, upright.
func (o Options) decodeInterleaved(data []byte, w, h, bpp, ow, oh int) (*image.RGBA, error) {
	px, err := decodeRLE(data, w, h, bpp)
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, ow, oh))
	var pal *[256][4]byte
	if bpp == 8 {
		pal = o.palette4()
	}
	for y := range oh {
		row := px[(h-1-y)*w:]
		row = row[:ow]
		dst := img.Pix[y*img.Stride : y*img.Stride+ow*4]
		switch bpp {
		case 8:
			for x, v := range row {
				*(*[4]byte)(dst[4*x:]) = pal[uint8(v)]
			}
		case 15:
			for x, v := range row {
				put555(dst[4*x:4*x+4], v)
			}
		case 16:
			for x, v := range row {
				put565(dst[4*x:4*x+4], v)
			}
		default: // 24
			for x, v := range row {
				*(*[4]byte)(dst[4*x:]) = [4]byte{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xFF}
			}
		}
	}
	return img, nil
}

// rleDecoder holds the state of RleDecompress (MS-RDPBCGR 3.1.9): the source position, the
// destination (w × h pixel values, in stream order: bottom-up), the foreground colour and the
// first-line and insert-foreground-pixel flags.
type rleDecoder struct {
	src   []byte
	i     int
	dst   []uint32
	pos   int
	w     int
	psize int
}

// decodeRLE decodes an Interleaved RLE stream at bpp (8, 15, 16 or 24) into w × h pixel values
// as they appear on the wire (palette indexes, RGB555, RGB565, RGB888), bottom-up.
func decodeRLE(src []byte, w, h, bpp int) ([]uint32, error) {
	n := w * h
	if len(src) < (n+maxRLEPixelsPerByte-1)/maxRLEPixelsPerByte {
		return nil, malformed("RLE stream of %d bytes cannot fill %d pixels", len(src), n)
	}
	d := rleDecoder{src: src, dst: make([]uint32, n), w: w, psize: bytesPerPixel(bpp)}
	white := uint32(1)<<bpp - 1
	fg := white
	first, insertFg := true, false
	for d.i < len(d.src) {
		if first && d.pos >= w {
			first, insertFg = false, false
		}
		start := d.i
		code, run, err := d.order()
		if err != nil {
			return nil, err
		}
		if code == regularBgRun || code == megaMegaBgRun {
			count := run
			if insertFg && count == 0 {
				count = 1 // the inserted foreground pixel is written even for an empty run
			}
			if err := d.room(count, start); err != nil {
				return nil, err
			}
			if insertFg {
				if first {
					d.dst[d.pos] = fg
				} else {
					d.dst[d.pos] = d.dst[d.pos-w] ^ fg
				}
				d.pos++
				run--
			}
			if run > 0 {
				if first {
					clear(d.dst[d.pos : d.pos+run]) // black
					d.pos += run
				} else {
					d.copyAbove(run)
				}
			}
			// A background run right after this one starts with a foreground pixel.
			insertFg = true
			continue
		}
		insertFg = false
		switch code {
		case regularFgRun, megaMegaFgRun, liteSetFgFgRun, megaMegaSetFgRun:
			if code == liteSetFgFgRun || code == megaMegaSetFgRun {
				if fg, err = d.pixel(); err != nil {
					return nil, err
				}
			}
			if err := d.room(run, start); err != nil {
				return nil, err
			}
			if first {
				d.fill(run, fg)
			} else {
				for range run {
					d.dst[d.pos] = d.dst[d.pos-w] ^ fg
					d.pos++
				}
			}
		case liteDitheredRun, megaMegaDitheredRun:
			a, err := d.pixel()
			if err != nil {
				return nil, err
			}
			b, err := d.pixel()
			if err != nil {
				return nil, err
			}
			if err := d.room(2*run, start); err != nil {
				return nil, err
			}
			for range run {
				d.dst[d.pos], d.dst[d.pos+1] = a, b
				d.pos += 2
			}
		case regularColorRun, megaMegaColorRun:
			c, err := d.pixel()
			if err != nil {
				return nil, err
			}
			if err := d.room(run, start); err != nil {
				return nil, err
			}
			d.fill(run, c)
		case regularFgBgImage, megaMegaFgBgImage, liteSetFgFgBgImage, megaMegaSetFgBgImage:
			if code == liteSetFgFgBgImage || code == megaMegaSetFgBgImage {
				if fg, err = d.pixel(); err != nil {
					return nil, err
				}
			}
			if err := d.room(run, start); err != nil {
				return nil, err
			}
			if masks := (run + 7) / 8; masks > len(d.src)-d.i {
				return nil, malformed("FGBG image order at offset %d needs %d bitmask bytes, %d left", start, masks, len(d.src)-d.i)
			}
			for run > 0 {
				bits := min(run, 8)
				d.fgbg(d.src[d.i], bits, fg, first)
				d.i++
				run -= bits
			}
		case regularColorImage, megaMegaColorImage:
			if err := d.room(run, start); err != nil {
				return nil, err
			}
			if need := run * d.psize; need > len(d.src)-d.i {
				return nil, malformed("colour image order at offset %d needs %d bytes, %d left", start, need, len(d.src)-d.i)
			}
			for range run {
				d.dst[d.pos], _ = d.pixel() // length checked above
				d.pos++
			}
		case specialFgBg1, specialFgBg2:
			if err := d.room(8, start); err != nil {
				return nil, err
			}
			mask := uint8(maskSpecialFgBg1)
			if code == specialFgBg2 {
				mask = maskSpecialFgBg2
			}
			d.fgbg(mask, 8, fg, first)
		case specialWhite, specialBlack:
			if err := d.room(1, start); err != nil {
				return nil, err
			}
			if code == specialWhite {
				d.dst[d.pos] = white
			} else {
				d.dst[d.pos] = 0
			}
			d.pos++
		default:
			return nil, malformed("unknown RLE order header 0x%02x at offset %d", d.src[start], start)
		}
	}
	if d.pos != n {
		return nil, malformed("RLE stream of %d bytes fills %d of %d pixels", len(d.src), d.pos, n)
	}
	return d.dst, nil
}

// order reads an order header and its run length; special orders get their fixed length.
// Unknown codes are returned as read, for the caller to refuse.
func (d *rleDecoder) order() (code uint8, run int, err error) {
	start := d.i
	hdr := d.src[d.i]
	d.i++
	switch {
	case hdr < 0xC0: // regular
		code, run = hdr>>5, int(hdr&0x1F)
		if code == regularFgBgImage {
			if run != 0 {
				return code, run * 8, nil
			}
			b, err := d.byte(start)
			return code, int(b) + 1, err
		}
		if run == 0 {
			b, err := d.byte(start)
			return code, int(b) + 32, err
		}
		return code, run, nil
	case hdr < 0xF0: // lite
		code, run = hdr>>4, int(hdr&0x0F)
		if code == liteSetFgFgBgImage {
			if run != 0 {
				return code, run * 8, nil
			}
			b, err := d.byte(start)
			return code, int(b) + 1, err
		}
		if run == 0 {
			b, err := d.byte(start)
			return code, int(b) + 16, err
		}
		return code, run, nil
	}
	switch hdr {
	case megaMegaBgRun, megaMegaFgRun, megaMegaFgBgImage, megaMegaColorRun, megaMegaColorImage,
		megaMegaSetFgRun, megaMegaSetFgBgImage, megaMegaDitheredRun:
		if len(d.src)-d.i < 2 {
			return 0, 0, malformed("mega-mega order 0x%02x at offset %d: run length truncated", hdr, start)
		}
		run = int(d.src[d.i]) | int(d.src[d.i+1])<<8
		d.i += 2
		return hdr, run, nil
	case specialFgBg1, specialFgBg2:
		return hdr, 8, nil
	}
	return hdr, 1, nil // WHITE, BLACK, or unknown
}

func (d *rleDecoder) byte(start int) (uint8, error) {
	if d.i >= len(d.src) {
		return 0, malformed("RLE order at offset %d: run length truncated", start)
	}
	b := d.src[d.i]
	d.i++
	return b, nil
}

// pixel reads a pixel value of the stream's colour depth (little-endian).
func (d *rleDecoder) pixel() (uint32, error) {
	if len(d.src)-d.i < d.psize {
		return 0, malformed("RLE pixel value at offset %d truncated", d.i)
	}
	s := d.src[d.i:]
	var v uint32
	switch d.psize {
	case 1:
		v = uint32(s[0])
	case 2:
		v = uint32(s[0]) | uint32(s[1])<<8
	default:
		v = uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16
	}
	d.i += d.psize
	return v, nil
}

// room checks that n more pixels fit in the bitmap.
func (d *rleDecoder) room(n, start int) error {
	if n > len(d.dst)-d.pos {
		return malformed("RLE order at offset %d writes %d pixels, %d left in the bitmap", start, n, len(d.dst)-d.pos)
	}
	return nil
}

func (d *rleDecoder) fill(n int, v uint32) {
	s := d.dst[d.pos : d.pos+n]
	for i := range s {
		s[i] = v
	}
	d.pos += n
}

// copyAbove copies n pixels from the scanline before, in steps of at most one scanline so that
// a run longer than a scanline repeats what it has just written.
func (d *rleDecoder) copyAbove(n int) {
	for n > 0 {
		c := min(n, d.w)
		copy(d.dst[d.pos:d.pos+c], d.dst[d.pos-d.w:d.pos-d.w+c])
		d.pos += c
		n -= c
	}
}

// fgbg writes bits pixels of a foreground/background image from a bitmask, least significant
// bit first: a set bit is the foreground colour XORed with the pixel above (the colour itself on
// the first scanline), a clear bit the pixel above (black on the first scanline).
func (d *rleDecoder) fgbg(mask uint8, bits int, fg uint32, first bool) {
	s := d.dst[d.pos : d.pos+bits]
	if first {
		for k := range s {
			if mask&(1<<k) != 0 {
				s[k] = fg
			} else {
				s[k] = 0
			}
		}
	} else {
		above := d.dst[d.pos-d.w : d.pos-d.w+bits]
		for k := range s {
			v := above[k]
			if mask&(1<<k) != 0 {
				v ^= fg
			}
			s[k] = v
		}
	}
	d.pos += bits
}
