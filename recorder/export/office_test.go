package export

import (
	"bytes"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
)

// An office-like session for the benchmark: a 1280×800 desktop at 32 bpp drawn in 64×64 tiles
// of RDP 6.0 planar bitmaps (as xrdp and Windows send them), then every minute a window
// opening (an 832×576 redraw), half a minute of typing (5 keystrokes a second, each drawing a
// glyph and the caret), two seconds of mouse movement and a click that redraws a button; the
// rest is a still screen.

var (
	deskBlue   = color.RGBA{0x33, 0x66, 0x99, 0xFF}
	paperWhite = color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
	inkBlack   = color.RGBA{0x10, 0x10, 0x10, 0xFF}
	titleGrey  = color.RGBA{0xD0, 0xD4, 0xDA, 0xFF}
)

const (
	officeW, officeH = 1280, 800
	tile             = 64
)

// textImage is a w×h "window": a title bar and lines of glyph-like strokes on white.
func textImage(rng *rand.Rand, w, h int) *image.RGBA {
	img := replaytest.Solid(w, h, paperWhite)
	for y := range min(24, h) {
		for x := range w {
			img.SetRGBA(x, y, titleGrey)
		}
	}
	for line := 40; line+12 < h; line += 18 {
		x := 12
		for x < w-20 {
			word := 2 + rng.IntN(8)
			for range word {
				glyph(rng, img, x, line)
				x += 8
			}
			x += 8
			if rng.IntN(12) == 0 {
				break // short line
			}
		}
	}
	return img
}

// glyph draws a random 6×10 pattern of ink at (x, y).
func glyph(rng *rand.Rand, img *image.RGBA, x, y int) {
	bits := rng.Uint64()
	for dy := range 10 {
		for dx := range 6 {
			if bits>>(uint(dy*6+dx)%64)&1 == 1 {
				img.SetRGBA(x+dx, y+dy, inkBlack)
			}
		}
	}
}

// tiles encodes img as 64×64 planar rectangles placed at (x, y).
func tiles(tb testing.TB, img *image.RGBA, x, y int) []bitmap.Rectangle {
	tb.Helper()
	var rects []bitmap.Rectangle
	b := img.Bounds()
	for ty := 0; ty < b.Dy(); ty += tile {
		for tx := 0; tx < b.Dx(); tx += tile {
			sub := img.SubImage(image.Rect(tx, ty, min(tx+tile, b.Dx()), min(ty+tile, b.Dy())))
			r, err := replaytest.Rect(sub, x+tx, y+ty, 32, replaytest.Planar)
			if err != nil {
				tb.Fatal(err)
			}
			rects = append(rects, r)
		}
	}
	return rects
}

// sendTiles adds rects as fast-path bitmap updates of up to 16 rectangles each, 5 ms apart.
func sendTiles(tb testing.TB, ses *replaytest.Session, rects []bitmap.Rectangle) {
	tb.Helper()
	for i := 0; i < len(rects); i += 16 {
		if err := ses.FastPathBitmap(rects[i:min(i+16, len(rects))]...); err != nil {
			tb.Fatal(err)
		}
		ses.Advance(5 * time.Millisecond)
	}
}

func at(rect bitmap.Rectangle, x, y int) bitmap.Rectangle {
	w, h := int(rect.DestRight-rect.DestLeft), int(rect.DestBottom-rect.DestTop)
	rect.DestLeft, rect.DestTop = uint16(x), uint16(y)
	rect.DestRight, rect.DestBottom = uint16(x+w), uint16(y+h)
	return rect
}

// officeSession builds the session, minutes long, and returns its records.
func officeSession(tb testing.TB, minutes int) *replaytest.Session {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ses := replaytest.New(start)
	if err := ses.DemandActive(officeW, officeH, 32); err != nil {
		tb.Fatal(err)
	}
	desk := replaytest.Solid(officeW, officeH, deskBlue)
	sendTiles(tb, ses, tiles(tb, desk, 0, 0))

	windows := make([][]bitmap.Rectangle, 3)
	for i := range windows {
		windows[i] = tiles(tb, textImage(rng, 832, 576), 0, 0)
	}
	var glyphs []bitmap.Rectangle
	for range 32 {
		img := replaytest.Solid(10, 16, paperWhite)
		glyph(rng, img, 1, 3)
		for y := range 16 {
			img.SetRGBA(9, y, inkBlack) // the caret
		}
		r, err := replaytest.Rect(img, 0, 0, 32, replaytest.Planar)
		if err != nil {
			tb.Fatal(err)
		}
		glyphs = append(glyphs, r)
	}
	button, err := replaytest.Rect(replaytest.Solid(96, 28, titleGrey), 0, 0, 32, replaytest.Planar)
	if err != nil {
		tb.Fatal(err)
	}

	for m := range minutes {
		minute := start.Add(time.Duration(m) * time.Minute)
		ses.Now = minute.Add(500 * time.Millisecond)
		// A window opens (or comes to the front).
		wx, wy := 96+32*(m%6), 64+16*(m%6)
		moved := make([]bitmap.Rectangle, 0, len(windows[0]))
		for _, r := range windows[m%len(windows)] {
			moved = append(moved, at(r, wx+int(r.DestLeft), wy+int(r.DestTop)))
		}
		sendTiles(tb, ses, moved)
		// Half a minute of typing into it.
		ses.Now = minute.Add(5 * time.Second)
		col, row := 0, 0
		for range 150 {
			g := glyphs[rng.IntN(len(glyphs))]
			if err := ses.FastPathBitmap(at(g, wx+12+col*8, wy+40+row*18)); err != nil {
				tb.Fatal(err)
			}
			if col++; col == 90 {
				col, row = 0, row+1
			}
			ses.Advance(time.Duration(150+rng.IntN(100)) * time.Millisecond)
		}
		// Two seconds of mouse movement, then a click on a button.
		ses.Now = minute.Add(40 * time.Second)
		for i := range 60 {
			if err := ses.MouseMove(200+i*10, 300+i*3); err != nil {
				tb.Fatal(err)
			}
			ses.Advance(33 * time.Millisecond)
		}
		if err := ses.FastPathBitmap(at(button, wx+700, wy+530)); err != nil {
			tb.Fatal(err)
		}
	}
	ses.Now = start.Add(time.Duration(minutes) * time.Minute)
	if err := ses.MouseMove(10, 10); err != nil { // the last record: the session's end
		tb.Fatal(err)
	}
	return ses
}

// fileForm writes records as a recording's file form (chunks one after another), flushing a
// chunk every 5 s of session time as the proxy does.
func fileForm(tb testing.TB, recs []capture.Record) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := capture.NewWriter(capture.StreamSink{W: &buf})
	if err != nil {
		tb.Fatal(err)
	}
	var flushed time.Time
	for _, r := range recs {
		if r.Time.Sub(flushed) >= 5*time.Second {
			if err := w.Flush(); err != nil {
				tb.Fatal(err)
			}
			flushed = r.Time
		}
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
