package export

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"

	"github.com/klauspost/compress/zlib"
)

// pngEncoder writes desktop pictures as PNG files faster than image/png: 8-bit RGB (a desktop
// is opaque, so the alpha channel is dropped), every row filtered with "Up" — which turns the
// rows that repeat the one above, most of a screen, into zeros — and deflated at flate's best
// speed. image/png tries every filter on every row, which costs half of its time. An encoder
// is not safe for concurrent use.
type pngEncoder struct {
	raw  []byte       // filtered rows
	idat bytes.Buffer // deflated rows
	zw   *zlib.Writer
	head []byte
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func (e *pngEncoder) encode(w io.Writer, img *image.RGBA) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	if width <= 0 || height <= 0 {
		return fmt.Errorf("png: empty image")
	}
	rowLen := 1 + 3*width
	if cap(e.raw) < rowLen*height {
		e.raw = make([]byte, rowLen*height)
	}
	raw := e.raw[:rowLen*height]
	var above []byte
	for y := range height {
		o := img.PixOffset(b.Min.X, b.Min.Y+y)
		src := img.Pix[o : o+4*width : o+4*width]
		out := raw[y*rowLen : (y+1)*rowLen : (y+1)*rowLen]
		out[0] = 2 // Up
		out = out[1:]
		if above == nil {
			for x, j := 0, 0; j+2 < len(out) && x+2 < len(src); x, j = x+4, j+3 {
				out[j], out[j+1], out[j+2] = src[x], src[x+1], src[x+2]
			}
		} else if bytes.Equal(src, above) {
			clear(out) // a row like the one above, as most of a screen: all zeros
		} else {
			for x, j := 0, 0; j+2 < len(out) && x+2 < len(src) && x+2 < len(above); x, j = x+4, j+3 {
				out[j], out[j+1], out[j+2] = src[x]-above[x], src[x+1]-above[x+1], src[x+2]-above[x+2]
			}
		}
		above = src
	}
	e.idat.Reset()
	if e.zw == nil {
		zw, err := zlib.NewWriterLevel(&e.idat, zlib.BestSpeed)
		if err != nil {
			return err
		}
		e.zw = zw
	} else {
		e.zw.Reset(&e.idat)
	}
	if _, err := e.zw.Write(raw); err != nil {
		return err
	}
	if err := e.zw.Close(); err != nil {
		return err
	}

	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, 2 // 8 bits per sample, truecolour; deflate, adaptive filtering, no interlace
	e.head = append(e.head[:0], pngSignature...)
	e.head = appendChunk(e.head, "IHDR", ihdr[:])
	e.head = binary.BigEndian.AppendUint32(e.head, uint32(e.idat.Len()))
	e.head = append(e.head, "IDAT"...)
	if _, err := w.Write(e.head); err != nil {
		return err
	}
	if _, err := w.Write(e.idat.Bytes()); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	crc.Write([]byte("IDAT"))
	crc.Write(e.idat.Bytes())
	tail := binary.BigEndian.AppendUint32(nil, crc.Sum32())
	tail = appendChunk(tail, "IEND", nil)
	_, err := w.Write(tail)
	return err
}

func appendChunk(b []byte, typ string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}
