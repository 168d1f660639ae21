package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
)

var (
	blue  = color.RGBA{0x33, 0x66, 0x99, 0xFF}
	red   = color.RGBA{0xFF, 0x00, 0x00, 0xFF}
	green = color.RGBA{0x00, 0xFF, 0x00, 0xFF}
	t0    = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func rect(t testing.TB, img image.Image, x, y, bpp int, codec replaytest.Codec) bitmap.Rectangle {
	t.Helper()
	r, err := replaytest.Rect(img, x, y, bpp, codec)
	must(t, err)
	return r
}

func pixel(img *image.RGBA, x, y int) color.RGBA {
	return img.RGBAAt(x, y)
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 30), uint8(y * 30), uint8(x*y + 7), 0xFF})
		}
	}
	return img
}

func applyAll(t *testing.T, s *Screen, recs []capture.Record) {
	t.Helper()
	for i, r := range recs {
		if _, err := s.Apply(r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// Every codec and both framings draw where they should, pixel-exactly.
func TestScreenDrawsEveryCodec(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(320, 200, 32))
	must(t, ses.FastPathBitmap(rect(t, replaytest.Solid(320, 200, blue), 0, 0, 32, replaytest.Planar)))
	must(t, ses.SlowPathBitmap(rect(t, replaytest.Solid(20, 20, red), 10, 10, 16, replaytest.Interleaved)))
	must(t, ses.FastPathBitmap(rect(t, gradient(8, 8), 100, 50, 24, replaytest.Uncompressed)))
	must(t, ses.FastPathBitmap(rect(t, gradient(6, 5), 200, 50, 24, replaytest.Interleaved)))
	var pal [256]color.RGBA
	pal[7] = green
	must(t, ses.Palette(&pal))
	eight := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.Black, color.Black, color.Black, color.Black, color.Black, color.Black, green})
	for i := range eight.Pix {
		eight.Pix[i] = 7
	}
	must(t, ses.FastPathBitmap(rect(t, eight, 300, 180, 8, replaytest.Uncompressed)))

	s := NewScreen()
	if w, h := s.Size(); w != 0 || h != 0 || s.Render(nil) != nil {
		t.Fatalf("a new screen has a size %dx%d", w, h)
	}
	applyAll(t, s, ses.Records)
	if w, h := s.Size(); w != 320 || h != 200 {
		t.Fatalf("size %dx%d, want 320x200", w, h)
	}
	d := s.Desktop()
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{{0, 0, blue}, {319, 199, blue}, {160, 100, blue}, {10, 10, red}, {29, 29, red}, {30, 30, blue},
		{302, 182, green}, {299, 182, blue}} {
		if got := pixel(d, c.x, c.y); got != c.want {
			t.Errorf("(%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	g := gradient(8, 8)
	for y := range 8 {
		for x := range 8 {
			if got, want := pixel(d, 100+x, 50+y), g.RGBAAt(x, y); got != want {
				t.Fatalf("uncompressed 24 bpp (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	g = gradient(6, 5)
	for y := range 5 {
		for x := range 6 {
			if got, want := pixel(d, 200+x, 50+y), g.RGBAAt(x, y); got != want {
				t.Fatalf("interleaved 24 bpp (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	st := s.Stats()
	if st.Records != len(ses.Records) || st.Rectangles != 5 || st.Updates != 6 || st.Skipped != 0 || st.Resizes != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A bitmap update larger than one fast-path PDU arrives in fragments and is drawn once whole.
func TestScreenReassemblesFragments(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(256, 256, 32))
	var rects []bitmap.Rectangle
	for i, c := range []color.RGBA{red, green, blue, {0x10, 0x20, 0x30, 0xFF}} {
		rects = append(rects, rect(t, replaytest.Solid(120, 120, c), i%2*128, i/2*128, 32, replaytest.Uncompressed))
	}
	must(t, ses.FastPathBitmap(rects...))
	if len(ses.Records) < 10 {
		t.Fatalf("%d records: the update was not fragmented", len(ses.Records))
	}
	s := NewScreen()
	changes := 0
	for _, r := range ses.Records {
		c, err := s.Apply(r)
		must(t, err)
		if c {
			changes++
		}
	}
	if changes != 2 { // the Demand Active and the whole update
		t.Errorf("%d changes, want 2", changes)
	}
	if got := pixel(s.Desktop(), 5, 130); got != blue {
		t.Errorf("(5,130) = %v, want %v", got, blue)
	}
	if got, want := pixel(s.Desktop(), 130, 130), (color.RGBA{0x10, 0x20, 0x30, 0xFF}); got != want {
		t.Errorf("(130,130) = %v, want %v", got, want)
	}
	if got := pixel(s.Desktop(), 125, 125); got != (color.RGBA{0, 0, 0, 0xFF}) {
		t.Errorf("undrawn (125,125) = %v, want opaque black", got)
	}
}

// The pointer follows the client's mouse, is drawn on Render only, and hides with a null
// pointer.
func TestScreenPointer(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(100, 100, 32))
	must(t, ses.FastPathBitmap(rect(t, replaytest.Solid(100, 100, blue), 0, 0, 32, replaytest.Planar)))
	must(t, ses.MouseMove(40, 30))
	s := NewScreen()
	applyAll(t, s, ses.Records)
	if p, vis := s.Pointer(); p != image.Pt(40, 30) || !vis {
		t.Fatalf("pointer %v visible %t", p, vis)
	}
	frame := s.Render(nil)
	if got := pixel(frame, 40, 30); got != (color.RGBA{0, 0, 0, 0xFF}) {
		t.Errorf("pointer tip %v, want black", got)
	}
	if got := pixel(frame, 41, 32); got != (color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("pointer body %v, want white", got)
	}
	if got := pixel(s.Desktop(), 40, 30); got != blue {
		t.Errorf("the desktop itself got the pointer: %v", got)
	}
	// At the edge the arrow is clipped, not a panic.
	must(t, ses.MouseMove(99, 99))
	must(t, ses.PointerHidden(true))
	s = NewScreen()
	applyAll(t, s, ses.Records)
	frame = s.Render(frame)
	if got := pixel(frame, 99, 99); got != blue {
		t.Errorf("hidden pointer drawn: %v", got)
	}
}

// What cannot be decoded is skipped with a reason, and replay goes on.
func TestScreenSkipsAndGoesOn(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(64, 64, 32))
	s := NewScreen()
	applyAll(t, s, ses.Records)
	bad := []struct {
		name string
		rec  capture.Record
		want string
	}{
		{"orders", fastPathRecord(t, fastpath.Update{Code: fastpath.UpdateOrders, Data: []byte{1, 0, 0, 0}}), "Orders"},
		{"compressed", fastPathRecord(t, fastpath.Update{Code: fastpath.UpdateBitmap, Compression: fastpath.CompressionUsed, CompressionFlags: fastpath.PacketCompressed | 1, Data: []byte{1, 2, 3}}), "compressed"},
		{"surface commands", fastPathRecord(t, fastpath.Update{Code: fastpath.UpdateSurfCmds, Data: []byte{1}}), "SurfCmds"},
		{"garbage", capture.Record{Time: t0, Direction: capture.TargetToClient, Kind: capture.KindFastPath, PDU: []byte{0, 0xFF}}, "fast-path output"},
		{"bad bitmap", fastPathRecord(t, fastpath.Update{Code: fastpath.UpdateBitmap, Data: []byte{1, 0, 1, 0, 9}}), "bitmap update"},
	}
	for i, b := range bad {
		_, err := s.Apply(b.rec)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %v, want one naming %q", b.name, err, b.want)
		}
		if s.Stats().Skipped != i+1 {
			t.Errorf("%s: %d skipped, want %d", b.name, s.Stats().Skipped, i+1)
		}
	}
	more := replaytest.New(t0)
	must(t, more.FastPathBitmap(rect(t, replaytest.Solid(64, 64, red), 0, 0, 32, replaytest.Planar)))
	applyAll(t, s, more.Records)
	if got := pixel(s.Desktop(), 5, 5); got != red {
		t.Errorf("after skipped records the next update was not drawn: %v", got)
	}
	if !strings.Contains(s.Stats().FirstSkip, "Orders") {
		t.Errorf("first skip %q", s.Stats().FirstSkip)
	}
}

func fastPathRecord(t *testing.T, u fastpath.Update) capture.Record {
	t.Helper()
	b, err := (&fastpath.OutputPDU{Updates: []fastpath.Update{u}}).Marshal()
	must(t, err)
	return capture.Record{Time: t0, Direction: capture.TargetToClient, Kind: capture.KindFastPath, PDU: b}
}

// A desktop that changes size mid-session gets a new picture.
func TestScreenResize(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(64, 48, 32))
	must(t, ses.DemandActive(64, 48, 32))
	must(t, ses.DemandActive(128, 96, 16))
	s := NewScreen()
	applyAll(t, s, ses.Records)
	if w, h := s.Size(); w != 128 || h != 96 || s.Stats().Resizes != 3 {
		t.Errorf("size %dx%d, stats %+v", w, h, s.Stats())
	}
}

// Frames come at a steady rate from the first desktop to the last record, each showing what
// was drawn up to its moment.
func TestFrames(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.MouseMove(1, 1)) // before any desktop: no frame yet
	ses.Advance(250 * time.Millisecond)
	must(t, ses.DemandActive(32, 32, 32))
	must(t, ses.FastPathBitmap(rect(t, replaytest.Solid(32, 32, blue), 0, 0, 32, replaytest.Planar)))
	must(t, ses.PointerHidden(true))
	ses.Advance(1100 * time.Millisecond) // 1.35 s
	must(t, ses.FastPathBitmap(rect(t, replaytest.Solid(32, 32, red), 0, 0, 32, replaytest.Planar)))
	ses.Advance(700 * time.Millisecond) // 2.05 s
	must(t, ses.FastPathBitmap(rect(t, replaytest.Solid(8, 8, green), 0, 0, 32, replaytest.Planar)))

	type got struct {
		at      time.Duration
		c       color.RGBA
		changed bool
	}
	var frames []got
	st, err := Frames(ses.Next(), 500*time.Millisecond, func(f Frame) error {
		frames = append(frames, got{f.At, pixel(f.Image, 0, 0), f.Changed})
		return nil
	})
	must(t, err)
	want := []got{
		{500 * time.Millisecond, blue, true}, {1000 * time.Millisecond, blue, false},
		{1500 * time.Millisecond, red, true}, {2000 * time.Millisecond, red, false},
		{2500 * time.Millisecond, green, true}, // the last update, after the last tick
	}
	if !slices.Equal(frames, want) {
		t.Errorf("frames\n%v, want\n%v", frames, want)
	}
	if st.Rectangles != 3 {
		t.Errorf("stats %+v", st)
	}
	// An error from emit stops the walk; so does one from the source.
	stop := errors.New("stop")
	if _, err := Frames(ses.Next(), time.Second, func(Frame) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error: %v", err)
	}
	broken := func() (capture.Record, error) {
		return capture.Record{}, &capture.ChunkError{Seq: 3, Err: errors.New("bad")}
	}
	var ce *capture.ChunkError
	if _, err := Frames(broken, time.Second, func(Frame) error { return nil }); !errors.As(err, &ce) || ce.Seq != 3 {
		t.Errorf("source error: %v", err)
	}
	if _, err := Frames(ses.Next(), 0, func(Frame) error { return nil }); err == nil {
		t.Error("zero interval accepted")
	}
}

// A real session (FreeRDP and xrdp, bulk compression on as the client asked): the desktop
// size comes from the Demand Active, the pointer from the client's click, and the compressed
// updates are skipped with their reason.
func TestRealXrdpSession(t *testing.T) {
	recs := loadCapture(t, filepath.Join("testdata", "freerdp-xrdp-tls"))
	s := NewScreen()
	for _, r := range recs {
		_, _ = s.Apply(r)
	}
	if w, h := s.Size(); w != 1024 || h != 768 {
		t.Fatalf("desktop %dx%d, want 1024x768", w, h)
	}
	if p, _ := s.Pointer(); p == (image.Point{}) {
		t.Error("the client's mouse did not move the pointer")
	}
	st := s.Stats()
	t.Logf("%+v", st)
	if st.Skipped == 0 || !strings.Contains(st.FirstSkip, "compressed") {
		t.Errorf("xrdp compressed its updates, yet %+v", st)
	}
}

// loadCapture turns a capture folder (see /work/shared/captures/README.md) into records in
// time order.
func loadCapture(tb testing.TB, dir string) []capture.Record {
	tb.Helper()
	evb, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	must(tb, err)
	type event struct {
		Dir      string
		Off, Len int
		T        float64
	}
	var events []event
	for _, line := range bytes.Split(bytes.TrimSpace(evb), []byte("\n")) {
		var e event
		must(tb, json.Unmarshal(line, &e))
		events = append(events, e)
	}
	var recs []capture.Record
	for _, d := range []struct {
		name string
		dir  capture.Direction
	}{{"c2s", capture.ClientToTarget}, {"s2c", capture.TargetToClient}} {
		stream, err := os.ReadFile(filepath.Join(dir, d.name+".bin"))
		must(tb, err)
		r := bytes.NewReader(stream)
		for {
			kind, p, err := tpkt.ReadPDU(r, 0)
			if errors.Is(err, io.EOF) {
				break
			}
			must(tb, err)
			end := len(stream) - r.Len()
			at := 0.0
			for _, e := range events {
				if e.Dir == d.name && e.Off < end && end <= e.Off+e.Len {
					at = e.T
				}
			}
			k := capture.KindTPKT
			if kind == tpkt.KindFastPath {
				k = capture.KindFastPath
			}
			recs = append(recs, capture.Record{Time: t0.Add(time.Duration(at * float64(time.Second))), Direction: d.dir, Kind: k, PDU: p})
		}
	}
	slices.SortStableFunc(recs, func(a, b capture.Record) int { return a.Time.Compare(b.Time) })
	return recs
}
