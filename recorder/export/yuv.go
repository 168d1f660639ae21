package export

import (
	"bytes"
	"image"
)

// i420Size is the size in bytes of a w×h I420 picture (w and h even): the Y plane, then the
// Cb and Cr planes at half the width and height.
func i420Size(w, h int) int { return w*h + 2*(w/2)*(h/2) }

// i420 converts RGBA pictures of one even size to I420 with the BT.601 limited-range matrix:
// VP8 knows no other (RFC 6386), and the H.264 stream is tagged with it. It keeps the RGBA it converted last and converts
// again only the pairs of rows that differ from it, so a picture in which a few characters
// changed costs a comparison of the rows and the conversion of a few of them.
type i420 struct {
	w, h   int
	buf    []byte // Y plane, Cb plane, Cr plane
	prev   []byte // RGBA of the last picture, w*4 bytes a row
	primed bool
}

func newI420(w, h int) *i420 {
	return &i420{w: w, h: h, buf: make([]byte, i420Size(w, h)), prev: make([]byte, w*4*h)}
}

// update converts img (w×h) into buf and returns how many pairs of rows it converted.
func (c *i420) update(img *image.RGBA) int {
	w, h := c.w, c.h
	cw := w / 2
	yPlane := c.buf[:w*h]
	cbPlane := c.buf[w*h : w*h+cw*(h/2)]
	crPlane := c.buf[w*h+cw*(h/2):]
	b := img.Bounds()
	converted := 0
	for y := 0; y < h; y += 2 {
		o0 := img.PixOffset(b.Min.X, b.Min.Y+y)
		o1 := o0 + img.Stride
		r0, r1 := img.Pix[o0:o0+4*w], img.Pix[o1:o1+4*w]
		p0, p1 := c.prev[y*4*w:(y+1)*4*w], c.prev[(y+1)*4*w:(y+2)*4*w]
		if c.primed && bytes.Equal(r0, p0) && bytes.Equal(r1, p1) {
			continue
		}
		copy(p0, r0)
		copy(p1, r1)
		convertRows(r0, r1, yPlane[y*w:(y+1)*w], yPlane[(y+1)*w:(y+2)*w], cbPlane[y/2*cw:(y/2+1)*cw], crPlane[y/2*cw:(y/2+1)*cw])
		converted++
	}
	c.primed = true
	return converted
}

// convertRows converts two RGBA rows into two rows of Y and one of Cb and Cr (each chroma
// sample from the average of its 2×2 pixels).
func convertRows(r0, r1, y0, y1, cb, cr []byte) {
	for x := range cb {
		a, b := r0[8*x:8*x+8], r1[8*x:8*x+8]
		y0[2*x] = luma(a[0], a[1], a[2])
		y0[2*x+1] = luma(a[4], a[5], a[6])
		y1[2*x] = luma(b[0], b[1], b[2])
		y1[2*x+1] = luma(b[4], b[5], b[6])
		r := (int(a[0]) + int(a[4]) + int(b[0]) + int(b[4]) + 2) >> 2
		g := (int(a[1]) + int(a[5]) + int(b[1]) + int(b[5]) + 2) >> 2
		bl := (int(a[2]) + int(a[6]) + int(b[2]) + int(b[6]) + 2) >> 2
		cb[x] = uint8((-38*r-74*g+112*bl+128)>>8 + 128)
		cr[x] = uint8((112*r-94*g-18*bl+128)>>8 + 128)
	}
}

// luma is BT.601 Y' in limited range (16 to 235).
func luma(r, g, b uint8) uint8 {
	return uint8((66*int(r)+129*int(g)+25*int(b)+128)>>8 + 16)
}
