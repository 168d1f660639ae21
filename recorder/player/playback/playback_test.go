package playback_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/player/playback"
	"github.com/sessionconnector/sessionconnector/recorder/replay"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
)

// recording is a recording in memory: its records, its chunks as a manifest lists them, and
// their bytes.
type recording struct {
	start   time.Time
	records []capture.Record
	chunks  []playback.Chunk
	data    map[uint32][]byte
}

type sink struct{ r *recording }

func (s sink) WriteChunk(c capture.Chunk) error {
	s.r.data[c.Info.Seq] = bytes.Clone(c.Data)
	s.r.chunks = append(s.r.chunks, playback.Chunk{Seq: c.Info.Seq, Size: c.Info.Size,
		SHA256: hex.EncodeToString(c.Info.SHA256[:]), First: c.Info.First, Last: c.Info.Last})
	return nil
}

// build writes records into chunks of perChunk records.
func build(t testing.TB, start time.Time, records []capture.Record, perChunk int) *recording {
	t.Helper()
	r := &recording{start: start, records: records, data: map[uint32][]byte{}}
	w, err := capture.NewWriter(sink{r})
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range records {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if (i+1)%perChunk == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return r
}

// session draws a 160×120 desktop with every kind of update the replay decodes, one every
// 100 ms: solid and noisy rectangles through each codec, slow- and fast-path (fragmented
// too), the palette, mouse moves and the pointer hidden and shown.
func session(t *testing.T, start time.Time, updates int, seed uint64) []capture.Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	s := replaytest.New(start)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.DemandActive(160, 120, 32))
	var pal [256]color.RGBA
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), uint8(255 - i), uint8(i * 7), 0xFF}
	}
	for i := range updates {
		s.Advance(time.Duration(50+rng.IntN(100)) * time.Millisecond)
		w, h := 8+rng.IntN(60), 8+rng.IntN(50)
		x, y := rng.IntN(160-w), rng.IntN(120-h)
		img := replaytest.Solid(w, h, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 0xFF})
		if rng.IntN(2) == 0 {
			for k := 0; k < len(img.Pix); k += 4 {
				img.Pix[k], img.Pix[k+1] = uint8(rng.IntN(256)), uint8(k)
			}
		}
		switch i % 7 {
		case 0:
			r, err := replaytest.Rect(img, x, y, 32, replaytest.Uncompressed)
			must(err)
			must(s.FastPathBitmap(r))
		case 1:
			r, err := replaytest.Rect(img, x, y, 16, replaytest.Interleaved)
			must(err)
			must(s.SlowPathBitmap(r))
		case 2:
			r, err := replaytest.Rect(img, x, y, 32, replaytest.Planar)
			must(err)
			must(s.FastPathBitmap(r))
		case 3:
			must(s.MouseMove(rng.IntN(160), rng.IntN(120)))
		case 4:
			must(s.PointerHidden(rng.IntN(3) == 0))
		case 5:
			pal[rng.IntN(256)] = color.RGBA{uint8(rng.IntN(256)), 0, 0xFF, 0xFF}
			must(s.Palette(&pal))
			p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{})
			for k := range p.Pix {
				p.Pix[k] = uint8(rng.IntN(256))
			}
			r, err := replaytest.Rect(p, x, y, 8, replaytest.Uncompressed)
			must(err)
			must(s.FastPathBitmap(r))
		case 6:
			// A big update, fragmented over several fast-path PDUs.
			r, err := replaytest.Rect(replaytest.Solid(150, 100, color.RGBA{uint8(i), 0x33, 0x66, 0xFF}), 5, 10, 32, replaytest.Uncompressed)
			must(err)
			must(s.FastPathBitmap(r))
		}
	}
	return s.Records
}

// reference renders the records up to at with a fresh Screen: what the player must show.
func reference(r *recording, at time.Duration) *image.RGBA {
	return references(r, []time.Duration{at})[at]
}

// references renders the pictures at each moment in one pass through the records.
func references(r *recording, moments []time.Duration) map[time.Duration]*image.RGBA {
	sorted := slices.Clone(moments)
	slices.Sort(sorted)
	out := map[time.Duration]*image.RGBA{}
	s := replay.NewScreen()
	i := 0
	for _, at := range sorted {
		for ; i < len(r.records) && !r.records[i].Time.After(r.start.Add(at)); i++ {
			_, _ = s.Apply(r.records[i])
		}
		out[at] = s.Render(nil)
	}
	return out
}

func newPlayer(t *testing.T, r *recording, opts playback.Options, fetches *int) *playback.Player {
	t.Helper()
	opts.Start = r.start
	opts.End = r.records[len(r.records)-1].Time
	if opts.Chunks == nil {
		opts.Chunks = r.chunks
	}
	opts.Fetch = func(_ context.Context, seq uint32) ([]byte, error) {
		if fetches != nil {
			*fetches++
		}
		b, ok := r.data[seq]
		if !ok {
			return nil, fmt.Errorf("no chunk %d", seq)
		}
		return bytes.Clone(b), nil
	}
	p, err := playback.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func samePicture(t *testing.T, what string, got, want *image.RGBA) {
	t.Helper()
	switch {
	case want == nil && got == nil:
		return
	case want == nil || got == nil:
		t.Fatalf("%s: picture %v, want %v", what, got != nil, want != nil)
	case got.Rect != want.Rect:
		t.Fatalf("%s: picture %v, want %v", what, got.Rect, want.Rect)
	}
	for y := range want.Rect.Dy() {
		for x := range want.Rect.Dx() {
			if g, w := got.RGBAAt(x, y), want.RGBAAt(x, y); g != w {
				t.Fatalf("%s: pixel (%d,%d) is %v, want %v", what, x, y, g, w)
			}
		}
	}
}

// TestSeekAnywhereIsExact: wherever Seek goes — forward, backward, far, near, through restored
// snapshots — the picture is exactly the one a straight replay draws up to that moment.
func TestSeekAnywhereIsExact(t *testing.T) {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := build(t, start, session(t, start, 700, 1), 9)
	var fetches int
	// Snapshots every 64 KiB of PDUs, at most 6 of them: they are taken, thinned and restored.
	p := newPlayer(t, r, playback.Options{SnapshotBytes: 64 << 10, MaxSnapshots: 6, CacheBytes: 1 << 20}, &fetches)
	if last := r.records[len(r.records)-1].Time.Sub(start); p.Duration() != last.Round(time.Millisecond) && p.Duration() != last.Truncate(time.Millisecond)+time.Millisecond {
		t.Fatalf("duration %v, last record at %v", p.Duration(), last)
	}
	ctx := context.Background()
	if _, err := p.Seek(ctx, p.Duration()); err != nil {
		t.Fatal(err)
	}
	samePicture(t, "end", p.Frame(nil), reference(r, p.Duration()))
	if p.Snapshots() < 2 || p.Snapshots() > 6 {
		t.Fatalf("%d snapshots after playing through", p.Snapshots())
	}
	// Snapshots are taken at chunk boundaries: seek back to each boundary, where a restored
	// snapshot is the whole picture; then seek at random, and play on a little now and then.
	var seeks []time.Duration
	for i := len(r.chunks) - 1; i >= 0; i-- {
		seeks = append(seeks, r.chunks[i].Last.Sub(start), r.chunks[i].Last.Sub(start)+time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 60 {
		at := time.Duration(rng.Int64N(int64(p.Duration()) + 1))
		if i%10 == 9 {
			at = seeks[len(seeks)-1] + time.Duration(rng.IntN(300))*time.Millisecond // playing on
		}
		seeks = append(seeks, at)
	}
	want := references(r, seeks)
	var frame *image.RGBA
	for i, at := range seeks {
		if _, err := p.Seek(ctx, at); err != nil {
			t.Fatal(err)
		}
		if p.Position() != min(at, p.Duration()) {
			t.Fatalf("position %v after seeking to %v", p.Position(), at)
		}
		frame = p.Frame(frame)
		samePicture(t, fmt.Sprintf("seek %d to %v", i, at), frame, want[at])
	}
	if len(p.Warnings()) != 0 {
		t.Fatalf("warnings: %q", p.Warnings())
	}
	if st := p.Stats(); st.Skipped != 0 {
		t.Fatalf("skipped updates after a restore: %+v", st)
	}
	// Before the first Demand Active there is no picture.
	if _, err := p.Seek(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if w, h := p.Size(); w != 160 || h != 120 { // the Demand Active is at position 0
		t.Fatalf("size %dx%d at 0", w, h)
	}
}

// TestSeekBackIsCheap: seeking back near the end of a played recording replays from a snapshot,
// not from the start: few chunks are decoded again.
func TestSeekBackIsCheap(t *testing.T) {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := build(t, start, session(t, start, 600, 2), 5)
	var fetches int
	p := newPlayer(t, r, playback.Options{SnapshotBytes: 32 << 10, CacheBytes: 1}, &fetches) // no cache: count fetches
	ctx := context.Background()
	if _, err := p.Seek(ctx, p.Duration()); err != nil {
		t.Fatal(err)
	}
	if fetches != len(r.chunks) {
		t.Fatalf("%d fetches for %d chunks", fetches, len(r.chunks))
	}
	fetches = 0
	at := p.Duration() - 2*time.Second
	if _, err := p.Seek(ctx, at); err != nil {
		t.Fatal(err)
	}
	samePicture(t, "back", p.Frame(nil), reference(r, at))
	if fetches > len(r.chunks)/4 {
		t.Fatalf("seeking back 2 s of %v fetched %d of %d chunks", p.Duration(), fetches, len(r.chunks))
	}
}

// TestVerification: a chunk whose bytes differ from the manifest is refused (Seek fails, and
// retries); a chunk whose manifest entry was forged consistently breaks the chain and is
// skipped with a warning; a missing chunk is reported.
func TestVerification(t *testing.T) {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := build(t, start, session(t, start, 200, 3), 10)
	ctx := context.Background()

	t.Run("bytes differ from the manifest", func(t *testing.T) {
		bad := *r
		bad.data = map[uint32][]byte{}
		for k, v := range r.data {
			bad.data[k] = v
		}
		tampered := bytes.Clone(r.data[3])
		tampered[len(tampered)-1] ^= 1
		bad.data[3] = tampered
		p := newPlayer(t, &bad, playback.Options{}, nil)
		_, err := p.Seek(ctx, p.Duration())
		if err == nil || !strings.Contains(err.Error(), "chunk 3") {
			t.Fatalf("seek over a tampered chunk: %v", err)
		}
		if p.Position() > r.chunks[2].First.Sub(start) {
			t.Fatalf("position %v past the tampered chunk", p.Position())
		}
		bad.data[3] = r.data[3] // the network heals
		if _, err := p.Seek(ctx, p.Duration()); err != nil {
			t.Fatal(err)
		}
		samePicture(t, "healed", p.Frame(nil), reference(r, p.Duration()))
	})

	t.Run("chain broken", func(t *testing.T) {
		// Chunk 4 of another recording, listed with its own hash: it verifies alone, not in the chain.
		other := build(t, start, session(t, start, 200, 4), 10)
		chunks := append([]playback.Chunk(nil), r.chunks...)
		chunks[3] = other.chunks[3]
		mixed := *r
		mixed.data = map[uint32][]byte{}
		for k, v := range r.data {
			mixed.data[k] = v
		}
		mixed.data[4] = other.data[4]
		p := newPlayer(t, &mixed, playback.Options{Chunks: chunks}, nil)
		if _, err := p.Seek(ctx, p.Duration()); err != nil {
			t.Fatal(err)
		}
		w := p.Warnings()
		if len(w) != 2 || !strings.Contains(w[0], "chunk 4 failed verification") || !strings.Contains(w[0], "chain broken") ||
			!strings.Contains(w[1], "chunk 5 failed verification") {
			t.Fatalf("warnings %q", w)
		}
	})

	t.Run("gap", func(t *testing.T) {
		chunks := append(append([]playback.Chunk(nil), r.chunks[:2]...), r.chunks[3:]...)
		p := newPlayer(t, r, playback.Options{Chunks: chunks}, nil)
		if _, err := p.Seek(ctx, p.Duration()); err != nil {
			t.Fatal(err)
		}
		if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "before 4 are missing") {
			t.Fatalf("warnings %q", w)
		}
	})
}

// TestSeekCancelled: a Seek whose context ends stops at a consistent place, and the next one
// goes on from there; Yield is called while it works.
func TestSeekCancelled(t *testing.T) {
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := build(t, start, session(t, start, 400, 5), 20)
	ctx, cancel := context.WithCancel(context.Background())
	yields := 0
	clock := start
	p := newPlayer(t, r, playback.Options{
		YieldEvery: time.Millisecond,
		Now:        func() time.Time { clock = clock.Add(time.Millisecond); return clock },
		Yield: func() {
			yields++
			if yields == 3 {
				cancel()
			}
		},
	}, nil)
	if _, err := p.Seek(ctx, p.Duration()); !errors.Is(err, context.Canceled) {
		t.Fatalf("seek: %v", err)
	}
	stopped := p.Position()
	if stopped <= 0 || stopped >= p.Duration() {
		t.Fatalf("stopped at %v of %v", stopped, p.Duration())
	}
	samePicture(t, "stopped", p.Frame(nil), reference(r, stopped))
	if _, err := p.Seek(context.Background(), p.Duration()); err != nil {
		t.Fatal(err)
	}
	samePicture(t, "end", p.Frame(nil), reference(r, p.Duration()))
}

// hourLong is an hour of a 1280×800 session: a 50×50 uncompressed update every 250 ms at a
// random place (144 MB of PDUs), in chunks of 100 updates (the proxy's 1 MiB).
func hourLong(b *testing.B) *recording {
	b.Helper()
	start := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	s := replaytest.New(start)
	if err := s.DemandActive(1280, 800, 32); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 60 * 60 * 4 {
		s.Advance(250 * time.Millisecond)
		img := replaytest.Solid(50, 50, color.RGBA{uint8(rng.IntN(256)), 0x40, 0x80, 0xFF})
		for k := 0; k < len(img.Pix); k += 4 {
			img.Pix[k+1] = uint8(rng.IntN(256))
		}
		r, err := replaytest.Rect(img, rng.IntN(1230), rng.IntN(750), 32, replaytest.Uncompressed)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.FastPathBitmap(r); err != nil {
			b.Fatal(err)
		}
	}
	return build(b, start, s.Records, 100)
}

// BenchmarkHourLong: the first pass through an hour (every chunk decoded once), then random
// seeks, backward and forward, which restore snapshots.
func BenchmarkHourLong(b *testing.B) {
	r := hourLong(b)
	ctx := context.Background()
	opts := playback.Options{Start: r.start, End: r.records[len(r.records)-1].Time, Chunks: r.chunks,
		Fetch: func(_ context.Context, seq uint32) ([]byte, error) { return r.data[seq], nil }}
	b.Run("first pass", func(b *testing.B) {
		for range b.N {
			p, err := playback.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Seek(ctx, p.Duration()); err != nil {
				b.Fatal(err)
			}
			p.Close()
		}
	})
	p, err := playback.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Seek(ctx, p.Duration()); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d chunks, %d snapshots", len(r.chunks), p.Snapshots())
	b.Run("random seek", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		var img *image.RGBA
		for range b.N {
			if _, err := p.Seek(ctx, time.Duration(rng.Int64N(int64(p.Duration())))); err != nil {
				b.Fatal(err)
			}
			img = p.Frame(img)
		}
	})
	b.Run("play a frame", func(b *testing.B) {
		if _, err := p.Seek(ctx, 0); err != nil {
			b.Fatal(err)
		}
		var img *image.RGBA
		for i := range b.N {
			if _, err := p.Seek(ctx, time.Duration(i%200000)*16*time.Millisecond); err != nil {
				b.Fatal(err)
			}
			img = p.Frame(img)
		}
	})
}
