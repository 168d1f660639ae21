package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/export"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
)

func TestRecorderVerify(t *testing.T) {
	p := s3peer.Start(t)
	c := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := storage.New(storage.Config{Client: c, Bucket: p.Bucket, Prefix: "rec", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Begin(ctx, capture.Meta{Session: "s-verifycommand00", User: "alice", Target: "web01:3389", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range 3 {
		for i := range 5 {
			rec := capture.Record{Time: time.Now(), Direction: capture.ClientToTarget, Kind: capture.KindTPKT, PDU: []byte{3, 0, 0, byte(chunk), byte(i)}}
			if err := r.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", p.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", p.SecretKey)
	run := func() (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"recorder", "verify", "--endpoint", "http://" + p.Endpoint, "--bucket", p.Bucket, "--prefix", "rec", "--session", "s-verifycommand00"})
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "verifies: 3 chunks, 15 records, complete") {
		t.Fatalf("verify: %q %v", out, err)
	}
	// Corrupt chunk 2: verify names it.
	key := storage.ChunkKey("rec", "s-verifycommand00", 2)
	obj, err := c.GetObject(ctx, p.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	if _, err := data.ReadFrom(obj); err != nil {
		t.Fatal(err)
	}
	b := data.Bytes()
	b[len(b)-1] ^= 0xFF
	if _, err := c.PutObject(ctx, p.Bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("verify of a corrupted recording: %v, want an error naming chunk 2", err)
	}
}

// exportSession records a 320x200 session to the bucket, in chunks of a few records: a blue
// desktop, a red square at (100,100) after 2 s, the pointer moved at 5 s and 6 s.
func exportSession(t *testing.T, ctx context.Context, c *minio.Client, bucket, id string) {
	t.Helper()
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	ses := replaytest.New(start)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	solid := func(w, h int, c color.RGBA, x, y int) {
		r, err := replaytest.Rect(replaytest.Solid(w, h, c), x, y, 32, replaytest.Planar)
		check(err)
		check(ses.FastPathBitmap(r))
	}
	check(ses.DemandActive(320, 200, 32))
	solid(320, 200, color.RGBA{0x33, 0x66, 0x99, 0xFF}, 0, 0)
	ses.Advance(2 * time.Second)
	solid(40, 40, color.RGBA{0xFF, 0, 0, 0xFF}, 100, 100)
	ses.Advance(3 * time.Second)
	check(ses.MouseMove(10, 10))
	ses.Advance(time.Second)
	check(ses.MouseMove(12, 12))

	s, err := storage.New(storage.Config{Client: c, Bucket: bucket, Prefix: "rec", SpoolDir: t.TempDir()})
	check(err)
	r, err := s.Begin(ctx, capture.Meta{Session: id, User: "alice", Target: "web01:3389", Start: start})
	check(err)
	for i, rec := range ses.Records {
		check(r.Write(rec))
		if i%2 == 1 {
			check(r.Flush())
		}
	}
	_, err = r.Close(ctx)
	check(err)
}

// download copies a session's objects from the bucket into a new folder, as a person would.
func download(t *testing.T, ctx context.Context, c *minio.Client, bucket, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if err := c.FGetObject(ctx, bucket, obj.Key, filepath.Join(dir, path.Base(obj.Key)), minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRecorderExport(t *testing.T) {
	p := s3peer.Start(t)
	c := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const id = "s-exportcommand00"
	exportSession(t, ctx, c, p.Bucket, id)
	t.Setenv("AWS_ACCESS_KEY_ID", p.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", p.SecretKey)
	bucketArgs := []string{"--endpoint", "http://" + p.Endpoint, "--bucket", p.Bucket, "--prefix", "rec", "--session", id}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"recorder", "export"}, args...))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	dir := t.TempDir()
	wantIndex := "frame\toffset_ms\tduration_ms\n1\t0\t2000\n2\t2000\t3000\n3\t5000\t1000\n4\t6000\t100\n"
	checkPNG := func(out string) {
		t.Helper()
		index, err := os.ReadFile(filepath.Join(out, export.IndexName))
		if err != nil || string(index) != wantIndex {
			t.Fatalf("%s: %q %v, want %q", export.IndexName, index, err, wantIndex)
		}
		f, err := os.Open(filepath.Join(out, export.FrameName(2)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := img.At(120, 120); got != (color.RGBA{0xFF, 0, 0, 0xFF}) && got != (color.NRGBA{0xFF, 0, 0, 0xFF}) {
			t.Errorf("frame 2 (120,120) = %v, want red", got)
		}
		if img.Bounds() != image.Rect(0, 0, 320, 200) {
			t.Errorf("frame 2 is %v", img.Bounds())
		}
	}

	// From the bucket, PNG frames (the format from the output having no extension).
	frames := filepath.Join(dir, "frames")
	out, err := run(append(bucketArgs, "--output", frames)...)
	if err != nil || !strings.Contains(out, "exported to "+frames+": png 320x200, 6.1s at 10 fps, 4 PNG files") {
		t.Fatalf("export to PNG: %q %v", out, err)
	}
	checkPNG(frames)

	// From a downloaded copy, with --input.
	local := download(t, ctx, c, p.Bucket, "rec/"+id)
	frames2 := filepath.Join(dir, "frames2")
	if out, err := run("--input", local, "--output", frames2, "--format", "PNG"); err != nil {
		t.Fatalf("export --input: %q %v", out, err)
	}
	checkPNG(frames2)

	// Video, with the real ffmpeg.
	if _, err := exec.LookPath("ffmpeg"); err == nil || peers.Required() {
		ffprobe, err := exec.LookPath("ffprobe")
		if err != nil {
			t.Fatalf("ffprobe: %v", err)
		}
		for _, f := range []struct{ ext, codec string }{{"webm", "vp8"}, {"mp4", "h264"}} {
			video := filepath.Join(dir, "session."+f.ext)
			if out, err := run(append(bucketArgs, "--output", video, "--fps", "25")...); err != nil || !strings.Contains(out, f.ext+" 320x200, 6.04s at 25 fps, 4 frames") {
				t.Fatalf("export to %s: %q %v", f.ext, out, err)
			}
			b, err := exec.Command(ffprobe, "-v", "error", "-print_format", "json", "-show_streams", video).Output()
			if err != nil {
				t.Fatal(err)
			}
			var probe struct {
				Streams []struct {
					CodecName     string `json:"codec_name"`
					Width, Height int
				} `json:"streams"`
			}
			if err := json.Unmarshal(b, &probe); err != nil || len(probe.Streams) != 1 || probe.Streams[0].CodecName != f.codec || probe.Streams[0].Width != 320 {
				t.Errorf("ffprobe %s: %s %v", video, b, err)
			}
		}
	} else {
		t.Log("ffmpeg not installed: video export not tested")
	}

	// Mistakes.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", filepath.Join(dir, "x")}, "give --endpoint, --bucket and --session"},
		{[]string{"--input", local, "--session", id, "--output", filepath.Join(dir, "x")}, "without --endpoint"},
		{append(bucketArgs, "--output", filepath.Join(dir, "x.avi")), "cannot tell the format"},
		{append(bucketArgs, "--output", filepath.Join(dir, "x"), "--format", "gif"), "unknown format"},
		{append(bucketArgs, "--output", filepath.Join(dir, "x"), "--fps", "0"), "--fps 0 out of range"},
		{append(bucketArgs, "--output", frames), "not empty"},
		{append(bucketArgs, "--output", filepath.Join(dir, "x.mp4"), "--ffmpeg", filepath.Join(dir, "no-ffmpeg")), "install the ffmpeg package or pass its path with --ffmpeg"},
		{[]string{"--endpoint", "http://" + p.Endpoint, "--bucket", p.Bucket, "--session", "s-nosuchsession", "--output", filepath.Join(dir, "x")}, "s-nosuchsession"},
		{[]string{"--input", filepath.Join(dir, "nowhere"), "--output", filepath.Join(dir, "x")}, "no such file"},
	} {
		if out, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("export %v: %q %v, want an error saying %q", c.args, out, err, c.want)
		}
	}

	// A damaged chunk: the export names it and leaves no output.
	key := storage.ChunkKey("rec", id, 2)
	obj, err := c.GetObject(ctx, p.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	if _, err := data.ReadFrom(obj); err != nil {
		t.Fatal(err)
	}
	b := data.Bytes()
	b[len(b)-1] ^= 0xFF
	if _, err := c.PutObject(ctx, p.Bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if _, err := run(append(bucketArgs, "--output", bad)...); err == nil || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("export of a damaged recording: %v, want an error naming chunk 2", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed export left %s: %v", bad, err)
	}
	if err := os.WriteFile(filepath.Join(local, "chunk-000002.zst"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run("--input", local, "--output", bad); err == nil || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("export --input of a damaged recording: %v, want an error naming chunk 2", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
