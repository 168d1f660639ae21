package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/peers"
)

var (
	blue  = color.RGBA{0x33, 0x66, 0x99, 0xFF}
	red   = color.RGBA{0xFF, 0x00, 0x00, 0xFF}
	green = color.RGBA{0x00, 0xC0, 0x00, 0xFF}
	black = color.RGBA{0x00, 0x00, 0x00, 0xFF}
	t0    = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fill(t testing.TB, ses *replaytest.Session, w, h int, c color.RGBA, x, y int, codec replaytest.Codec) {
	t.Helper()
	bpp := 32
	if codec == replaytest.Interleaved {
		bpp = 24
	}
	r, err := replaytest.Rect(replaytest.Solid(w, h, c), x, y, bpp, codec)
	must(t, err)
	must(t, ses.FastPathBitmap(r))
}

// smallSession: a 320×200 blue desktop at 0 s, a red square at (100,100) at 2 s, the pointer
// moved to (10,10) at 5 s and to (12,12) at 6 s, the last record.
func smallSession(t testing.TB) *replaytest.Session {
	t.Helper()
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(320, 200, 32))
	fill(t, ses, 320, 200, blue, 0, 0, replaytest.Planar)
	ses.Advance(2 * time.Second)
	fill(t, ses, 40, 40, red, 100, 100, replaytest.Interleaved)
	ses.Advance(3 * time.Second)
	must(t, ses.MouseMove(10, 10))
	ses.Advance(time.Second)
	must(t, ses.MouseMove(12, 12))
	return ses
}

// requireFFmpeg returns the paths of ffmpeg and ffprobe, or skips the test (fails it when
// SC_REQUIRE_PEERS=1).
func requireFFmpeg(t testing.TB) (ffmpeg, ffprobe string) {
	t.Helper()
	var paths []string
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		p, err := exec.LookPath(name)
		if err != nil {
			msg := fmt.Sprintf("%s not found (%v); install it with: apt-get install -y --no-install-recommends ffmpeg", name, err)
			if peers.Required() {
				t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
			}
			t.Skip(msg)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1]
}

type probed struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func probe(t testing.TB, ffprobe, file string) (p probed, duration float64) {
	t.Helper()
	out, err := exec.Command(ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	must(t, json.Unmarshal(out, &p))
	if duration, err = strconv.ParseFloat(p.Format.Duration, 64); err != nil {
		t.Fatalf("ffprobe duration %q: %v", p.Format.Duration, err)
	}
	return p, duration
}

// videoPixel decodes the picture file shows at `at` and returns pixel (x, y). The videos are
// variable-frame-rate, a frame held until the next: the fps filter repeats it on a fixed grid
// so that -ss finds it (an input -ss would skip to the next frame).
func videoPixel(t testing.TB, ffmpeg, file string, at time.Duration, x, y int) color.RGBA {
	t.Helper()
	out, err := exec.Command(ffmpeg, "-v", "error", "-i", file,
		"-vf", fmt.Sprintf("fps=%d,format=rgb24,crop=1:1:%d:%d", MaxFPS, x, y), "-ss", fmt.Sprintf("%.3f", at.Seconds()),
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != 3 {
		t.Fatalf("ffmpeg pixel (%d,%d) at %s of %s: %v (%d bytes)", x, y, at, file, err, len(out))
	}
	return color.RGBA{out[0], out[1], out[2], 0xFF}
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= tol && d(a.G, b.G) <= tol && d(a.B, b.B) <= tol
}

// lossy is how far a pixel of the videos may be from the desktop's: 4:2:0 and compression.
const lossy = 12

func readPNG(t testing.TB, file string) image.Image {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return img
}

func rgbaAt(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]Format{
		"out.webm": WebM, "/x/Out.WEBM": WebM, "a.b/out.mp4": MP4, "frames": PNG, "frames/": PNG, "./x.d/": PNG,
	} {
		if got, err := FormatOf(in); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := FormatOf("out.avi"); err == nil || !strings.Contains(err.Error(), ".avi") {
		t.Errorf("FormatOf(out.avi): %v", err)
	}
	for _, s := range []string{"webm", "MP4", "png"} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("ParseFormat(%q): %v", s, err)
		}
	}
	if _, err := ParseFormat("gif"); err == nil {
		t.Error("ParseFormat(gif) succeeded")
	}
}

func TestI420(t *testing.T) {
	img := replaytest.Solid(4, 4, blue)
	img.SetRGBA(0, 0, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF})
	img.SetRGBA(1, 0, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF})
	img.SetRGBA(0, 1, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF})
	img.SetRGBA(1, 1, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF})
	img.SetRGBA(2, 2, black)
	img.SetRGBA(3, 2, black)
	img.SetRGBA(2, 3, black)
	img.SetRGBA(3, 3, black)
	c := newI420(4, 4)
	if n := c.update(img); n != 2 {
		t.Fatalf("first picture: %d row pairs converted, want 2", n)
	}
	// BT.601 limited range: white (235,128,128), black (16,128,128), #336699 (95,158,102).
	wantY := []byte{235, 235, 95, 95, 235, 235, 95, 95, 95, 95, 16, 16, 95, 95, 16, 16}
	if got := c.buf[:16]; !bytes.Equal(got, wantY) {
		t.Errorf("Y = %v, want %v", got, wantY)
	}
	if cb, cr := c.buf[16:20], c.buf[20:24]; !bytes.Equal(cb, []byte{128, 158, 158, 128}) || !bytes.Equal(cr, []byte{128, 102, 102, 128}) {
		t.Errorf("Cb = %v, Cr = %v", cb, cr)
	}
	if n := c.update(img); n != 0 {
		t.Errorf("same picture: %d row pairs converted, want 0", n)
	}
	img.SetRGBA(3, 3, blue)
	if n := c.update(img); n != 1 {
		t.Errorf("one pixel changed: %d row pairs converted, want 1", n)
	}
	if c.buf[15] != 95 {
		t.Errorf("Y of the changed pixel = %d, want 95", c.buf[15])
	}
}

// The PNG encoder writes what image/png reads back, pixel for pixel, from sub-images too.
func TestPNGEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var enc pngEncoder
	for _, size := range []image.Point{{1, 1}, {3, 2}, {64, 48}, {321, 201}} {
		full := image.NewRGBA(image.Rect(0, 0, size.X+5, size.Y+3))
		for i := range full.Pix {
			full.Pix[i] = uint8(rng.IntN(256))
			if i%4 == 3 {
				full.Pix[i] = 0xFF
			}
		}
		for y := 1; y < size.Y/2; y++ { // rows like the one above
			copy(full.Pix[full.PixOffset(0, y):full.PixOffset(0, y+1)], full.Pix[full.PixOffset(0, 0):full.PixOffset(0, 1)])
		}
		img := full.SubImage(image.Rect(2, 1, 2+size.X, 1+size.Y)).(*image.RGBA)
		var buf bytes.Buffer
		must(t, enc.encode(&buf, img))
		got, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if got.Bounds().Size() != size {
			t.Fatalf("%v: decoded %v", size, got.Bounds())
		}
		for y := range size.Y {
			for x := range size.X {
				if a, b := rgbaAt(got, x, y), img.RGBAAt(2+x, 1+y); a != b {
					t.Fatalf("%v: pixel (%d,%d) = %v, want %v", size, x, y, a, b)
				}
			}
		}
	}
}

// A PNG export has a file per changed picture, identical to the replay's, and the index.
func TestExportPNG(t *testing.T) {
	ses := smallSession(t)
	out := filepath.Join(t.TempDir(), "frames")
	res, err := Export(context.Background(), ses.Next(), out, Options{Format: PNG})
	must(t, err)
	want := Result{Format: PNG, Width: 320, Height: 200, FPS: 10, Frames: 4, Duration: 6100 * time.Millisecond}
	if res.Stats.Rectangles != 2 || res.Stats.Skipped != 0 {
		t.Errorf("stats %+v", res.Stats)
	}
	res.Stats = replay.Stats{}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	index, err := os.ReadFile(filepath.Join(out, IndexName))
	must(t, err)
	if want := "frame\toffset_ms\tduration_ms\n1\t0\t2000\n2\t2000\t3000\n3\t5000\t1000\n4\t6000\t100\n"; string(index) != want {
		t.Errorf("%s:\n%s\nwant:\n%s", IndexName, index, want)
	}
	entries, err := os.ReadDir(out)
	must(t, err)
	if len(entries) != 5 {
		t.Errorf("%d files in the output, want 4 frames and the index", len(entries))
	}
	// Each file is exactly the replay's picture at its moment.
	var pictures []*image.RGBA
	_, err = replay.Frames(ses.Next(), 100*time.Millisecond, func(f replay.Frame) error {
		if f.Changed {
			pictures = append(pictures, image.NewRGBA(f.Image.Bounds()))
			copy(pictures[len(pictures)-1].Pix, f.Image.Pix)
		}
		return nil
	})
	must(t, err)
	if len(pictures) != 4 {
		t.Fatalf("replay: %d changed frames", len(pictures))
	}
	for i, want := range pictures {
		got := readPNG(t, filepath.Join(out, FrameName(i+1)))
		for y := range 200 {
			for x := range 320 {
				if g, w := rgbaAt(got, x, y), want.RGBAAt(x, y); g != w {
					t.Fatalf("%s: pixel (%d,%d) = %v, want %v", FrameName(i+1), x, y, g, w)
				}
			}
		}
	}
	if c := rgbaAt(readPNG(t, filepath.Join(out, FrameName(1))), 120, 120); c != blue {
		t.Errorf("frame 1 (120,120) = %v, want blue", c)
	}
	if c := rgbaAt(readPNG(t, filepath.Join(out, FrameName(2))), 120, 120); c != red {
		t.Errorf("frame 2 (120,120) = %v, want red", c)
	}
	if c := rgbaAt(readPNG(t, filepath.Join(out, FrameName(3))), 10, 10); c != black {
		t.Errorf("frame 3 (10,10) = %v, want the pointer's black", c)
	}
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("output folder: %v %v", info.Mode(), err)
	}

	// A second export into the same folder is refused; an empty folder is fine.
	if _, err := Export(context.Background(), ses.Next(), out, Options{Format: PNG}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a full folder: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	must(t, os.Mkdir(empty, 0o755))
	if _, err := Export(context.Background(), ses.Next(), empty, Options{Format: PNG, FPS: 1}); err != nil {
		t.Errorf("export into an empty folder: %v", err)
	}
	index, err = os.ReadFile(filepath.Join(empty, IndexName))
	must(t, err)
	if want := "frame\toffset_ms\tduration_ms\n1\t0\t2000\n2\t2000\t3000\n3\t5000\t1000\n4\t6000\t1000\n"; string(index) != want {
		t.Errorf("at 1 fps, %s:\n%s\nwant:\n%s", IndexName, index, want)
	}
}

// resizingSession: 320×200 blue, then at 1 s a 640×480 desktop, green with a red square at
// its centre, then at 2 s a 160×100 red desktop; ends at 3 s.
func resizingSession(t testing.TB) *replaytest.Session {
	t.Helper()
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(320, 200, 32))
	fill(t, ses, 320, 200, blue, 0, 0, replaytest.Planar)
	ses.Advance(time.Second)
	must(t, ses.DemandActive(640, 480, 32))
	fill(t, ses, 640, 480, green, 0, 0, replaytest.Planar)
	fill(t, ses, 20, 20, red, 310, 230, replaytest.Planar)
	ses.Advance(time.Second)
	must(t, ses.DemandActive(160, 100, 32))
	fill(t, ses, 160, 100, red, 0, 0, replaytest.Planar)
	ses.Advance(time.Second)
	must(t, ses.MouseMove(300, 300))
	return ses
}

func TestExportPNGResize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "frames")
	res, err := Export(context.Background(), resizingSession(t).Next(), out, Options{Format: PNG})
	must(t, err)
	if res.Width != 320 || res.Height != 200 || res.Frames != 4 || res.Stats.Resizes != 3 {
		t.Errorf("result %+v", res)
	}
	for i, want := range []image.Point{{320, 200}, {640, 480}, {160, 100}, {160, 100}} {
		if got := readPNG(t, filepath.Join(out, FrameName(i+1))).Bounds().Size(); got != want {
			t.Errorf("frame %d is %v, want %v: PNG frames have the desktop's size", i+1, got, want)
		}
	}
}

func TestExportVideo(t *testing.T) {
	ffmpeg, ffprobe := requireFFmpeg(t)
	for _, f := range []Format{WebM, MP4} {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "session."+string(f))
			res, err := Export(context.Background(), smallSession(t).Next(), out, Options{Format: f})
			must(t, err)
			if res.Width != 320 || res.Height != 200 || res.Frames != 4 || res.Duration != 6100*time.Millisecond {
				t.Errorf("result %+v", res)
			}
			p, duration := probe(t, ffprobe, out)
			codec := map[Format]string{WebM: "vp8", MP4: "h264"}[f]
			if len(p.Streams) != 1 || p.Streams[0].CodecName != codec || p.Streams[0].Width != 320 || p.Streams[0].Height != 200 {
				t.Fatalf("ffprobe: %+v, want one %s stream 320x200", p.Streams, codec)
			}
			if duration < 6.0 || duration > 6.2 {
				t.Errorf("duration %.3f s, want 6.1", duration)
			}
			for _, c := range []struct {
				at   time.Duration
				x, y int
				want color.RGBA
			}{
				{500 * time.Millisecond, 120, 120, blue},
				{1500 * time.Millisecond, 300, 180, blue},
				{3 * time.Second, 120, 120, red},
				{5500 * time.Millisecond, 300, 180, blue},
				{5500 * time.Millisecond, 120, 120, red},
			} {
				if got := videoPixel(t, ffmpeg, out, c.at, c.x, c.y); !near(got, c.want, lossy) {
					t.Errorf("at %s (%d,%d) = %v, want %v", c.at, c.x, c.y, got, c.want)
				}
			}
			if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("output: %v %v", info.Mode(), err)
			}
		})
	}
}

// A video keeps the first size: a larger desktop is cropped around its centre, a smaller one
// centred on black. An odd size is padded to even.
func TestExportVideoResizeAndOddSize(t *testing.T) {
	ffmpeg, ffprobe := requireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "resize.webm")
	res, err := Export(context.Background(), resizingSession(t).Next(), out, Options{Format: WebM})
	must(t, err)
	if res.Width != 320 || res.Height != 200 || res.Letterboxed != 21 {
		t.Errorf("result %+v, want 320x200 with 21 frames letterboxed", res)
	}
	if p, _ := probe(t, ffprobe, out); p.Streams[0].Width != 320 || p.Streams[0].Height != 200 {
		t.Errorf("video is %dx%d, want the first size 320x200", p.Streams[0].Width, p.Streams[0].Height)
	}
	for _, c := range []struct {
		at   time.Duration
		x, y int
		want color.RGBA
	}{
		{500 * time.Millisecond, 160, 100, blue},
		{1500 * time.Millisecond, 160, 100, red}, // the centre of 640x480
		{1500 * time.Millisecond, 20, 20, green}, // cropped: no border
		{2500 * time.Millisecond, 160, 100, red}, // 160x100 centred
		{2500 * time.Millisecond, 20, 20, black}, // on black
	} {
		if got := videoPixel(t, ffmpeg, out, c.at, c.x, c.y); !near(got, c.want, lossy) {
			t.Errorf("at %s (%d,%d) = %v, want %v", c.at, c.x, c.y, got, c.want)
		}
	}

	ses := replaytest.New(t0)
	must(t, ses.DemandActive(321, 201, 32))
	fill(t, ses, 321, 201, blue, 0, 0, replaytest.Planar)
	ses.Advance(time.Second)
	must(t, ses.MouseMove(5, 5))
	out = filepath.Join(t.TempDir(), "odd.mp4")
	res, err = Export(context.Background(), ses.Next(), out, Options{Format: MP4})
	must(t, err)
	if p, _ := probe(t, ffprobe, out); res.Width != 322 || res.Height != 202 || p.Streams[0].Width != 322 || p.Streams[0].Height != 202 {
		t.Errorf("odd size: result %dx%d, video %dx%d; want 322x202", res.Width, res.Height, p.Streams[0].Width, p.Streams[0].Height)
	}
}

// fakeFFmpeg writes a shell script that stands for ffmpeg.
func fakeFFmpeg(t testing.TB, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ffmpeg")
	must(t, os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return path
}

// noLeftovers checks that dir holds nothing: no output, no temporary file.
func noLeftovers(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		t.Errorf("left in the output's folder: %s", e.Name())
	}
}

func TestExportWithoutFFmpeg(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.webm")
	_, err := Export(context.Background(), smallSession(t).Next(), out, Options{Format: WebM, FFmpegPath: filepath.Join(dir, "no-ffmpeg")})
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "install the ffmpeg package") || !strings.Contains(err.Error(), "--ffmpeg") {
		t.Errorf("missing --ffmpeg program: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = Export(context.Background(), smallSession(t).Next(), out, Options{Format: MP4})
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "install the ffmpeg package") {
		t.Errorf("no ffmpeg on PATH: %v", err)
	}
	noLeftovers(t, dir)
	// PNG needs no ffmpeg.
	if _, err := Export(context.Background(), smallSession(t).Next(), filepath.Join(dir, "png"), Options{Format: PNG}); err != nil {
		t.Errorf("PNG without ffmpeg: %v", err)
	}
}

func TestExportFFmpegFails(t *testing.T) {
	for name, c := range map[string]struct{ script, want string }{
		"at once":     {`echo "Unknown encoder 'libvpx'" >&2; exit 1`, "Unknown encoder 'libvpx'"},
		"at the end":  {`cat >/dev/null; echo "muxer failed" >&2; exit 3`, "exit status 3: muxer failed"},
		"long stderr": {`i=0; while [ $i -lt 3000 ]; do echo "line $i of noise" >&2; i=$((i+1)); done; echo "the real error" >&2; exit 1`, "the real error"},
		"signal":      {`kill -9 $$`, "signal: killed"},
		"no output":   {`cat >/dev/null; exit 0`, "ffmpeg wrote nothing"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Export(context.Background(), smallSession(t).Next(), filepath.Join(dir, "out.webm"), Options{Format: WebM, FFmpegPath: fakeFFmpeg(t, c.script)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
			if len(err.Error()) > maxStderr+1024 {
				t.Errorf("error of %d bytes: ffmpeg's output is not bounded", len(err.Error()))
			}
			noLeftovers(t, dir)
		})
	}
}

// Cancelling the context kills ffmpeg and ends the export at once.
func TestExportCancel(t *testing.T) {
	ses := replaytest.New(t0)
	must(t, ses.DemandActive(320, 200, 32))
	fill(t, ses, 320, 200, blue, 0, 0, replaytest.Planar)
	for i := range 200 { // 200 changed frames of 96 KiB: more than the pipe holds
		fill(t, ses, 16, 16, color.RGBA{uint8(i), 0, 0, 0xFF}, i%300, i%180, replaytest.Planar)
		ses.Advance(100 * time.Millisecond)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	// A stuck ffmpeg that reads nothing.
	_, err := Export(ctx, ses.Next(), filepath.Join(dir, "out.mp4"), Options{Format: MP4, FFmpegPath: fakeFFmpeg(t, "exec sleep 60")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("export took %s after the cancel", d)
	}
	noLeftovers(t, dir)
}

func TestExportOptions(t *testing.T) {
	dir := t.TempDir()
	for _, fps := range []int{-1, 61} {
		if _, err := Export(context.Background(), smallSession(t).Next(), filepath.Join(dir, "x"), Options{Format: PNG, FPS: fps}); err == nil || !strings.Contains(err.Error(), "frame rate") {
			t.Errorf("fps %d: %v", fps, err)
		}
	}
	if _, err := Export(context.Background(), smallSession(t).Next(), filepath.Join(dir, "x"), Options{Format: "gif"}); err == nil {
		t.Error("format gif accepted")
	}
	// No Demand Active: nothing to show.
	ses := replaytest.New(t0)
	must(t, ses.MouseMove(1, 1))
	if _, err := Export(context.Background(), ses.Next(), filepath.Join(dir, "x"), Options{Format: PNG}); !errors.Is(err, ErrNoDesktop) {
		t.Errorf("recording without a desktop: %v", err)
	}
	noLeftovers(t, dir)
}

// folderSink writes chunks as the bucket lays them out, under prefix "rec", session "s1".
type folderSink struct {
	dir    string
	chunks []capture.ManifestChunk
}

func (f *folderSink) WriteChunk(c capture.Chunk) error {
	key := storage.ChunkKey("rec", "s1", c.Info.Seq)
	f.chunks = append(f.chunks, capture.ManifestChunkOf(c.Info, key))
	return os.WriteFile(filepath.Join(f.dir, filepath.Base(key)), c.Data, 0o600)
}

// writeFolder writes recs as a downloaded recording (manifest and chunks) in a new folder,
// one chunk for every `per` records.
func writeFolder(t testing.TB, recs []capture.Record, per int, manifest bool) string {
	t.Helper()
	dir := t.TempDir()
	sink := &folderSink{dir: dir}
	w, err := capture.NewWriter(sink)
	must(t, err)
	for i, r := range recs {
		must(t, w.Write(r))
		if (i+1)%per == 0 {
			must(t, w.Flush())
		}
	}
	must(t, w.Close())
	if manifest {
		m := &capture.Manifest{Version: capture.ManifestVersion, Meta: capture.Meta{Session: "s1", User: "alice", Target: "t:3389", Start: t0},
			End: recs[len(recs)-1].Time, Complete: true, Chunks: sink.chunks}
		b, err := m.Marshal()
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o600))
	}
	return dir
}

func countRecords(t testing.TB, l *Local) (int, error) {
	t.Helper()
	n := 0
	for {
		_, err := l.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func TestOpenLocal(t *testing.T) {
	recs := smallSession(t).Records
	withManifest := writeFolder(t, recs, 2, true)
	spool := writeFolder(t, recs, 2, false)
	var stream bytes.Buffer
	for seq := uint32(1); ; seq++ {
		b, err := os.ReadFile(filepath.Join(withManifest, filepath.Base(storage.ChunkKey("", "", seq))))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		must(t, err)
		stream.Write(b)
	}
	file := filepath.Join(t.TempDir(), "recording.scr")
	must(t, os.WriteFile(file, stream.Bytes(), 0o600))

	for name, path := range map[string]string{"manifest": withManifest, "spool": spool, "file": file} {
		l, err := OpenLocal(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := countRecords(t, l)
		l.Close()
		if err != nil || n != len(recs) {
			t.Errorf("%s: %d records, %v; want %d", name, n, err, len(recs))
		}
		if (l.Manifest != nil) != (name == "manifest") {
			t.Errorf("%s: manifest %v", name, l.Manifest)
		}
	}
	if _, err := OpenLocal(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty folder: %v", err)
	}

	// A chunk missing or damaged: the error names it.
	must(t, os.Remove(filepath.Join(withManifest, "chunk-000002.zst")))
	l, err := OpenLocal(withManifest)
	must(t, err)
	_, err = countRecords(t, l)
	l.Close()
	var ce *capture.ChunkError
	if !errors.As(err, &ce) || ce.Seq != 2 || !strings.Contains(err.Error(), "chunk-000002.zst") {
		t.Errorf("missing chunk 2: %v", err)
	}
}

// A recording that does not verify fails the export with the bad chunk, and leaves no output.
func TestExportBadChunk(t *testing.T) {
	dir := writeFolder(t, smallSession(t).Records, 2, true)
	chunk := filepath.Join(dir, "chunk-000002.zst")
	b, err := os.ReadFile(chunk)
	must(t, err)
	b[len(b)-1] ^= 0xFF
	must(t, os.WriteFile(chunk, b, 0o600))
	l, err := OpenLocal(dir)
	must(t, err)
	defer l.Close()
	outDir := t.TempDir()
	_, err = Export(context.Background(), l.Next, filepath.Join(outDir, "frames"), Options{Format: PNG})
	var ce *capture.ChunkError
	if !errors.As(err, &ce) || ce.Seq != 2 || !strings.Contains(err.Error(), "chunk 2") {
		t.Errorf("export of a damaged recording: %v, want an error naming chunk 2", err)
	}
	noLeftovers(t, outDir)
}
