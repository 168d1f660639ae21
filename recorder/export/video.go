package export

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KeyframeInterval is the longest stretch of video without a keyframe, so that a player
// seeks quickly in a long recording.
const KeyframeInterval = 10 * time.Second

// maxStderr bounds the part of ffmpeg's error output kept for an error message: its end.
const maxStderr = 8 << 10

// FindFFmpeg returns the ffmpeg program to run: path when given, else "ffmpeg" on PATH. The
// error when there is none wraps exec.ErrNotFound.
func FindFFmpeg(path string) (string, error) {
	name, where := path, path
	if name == "" {
		name, where = "ffmpeg", "ffmpeg on PATH"
	}
	found, err := exec.LookPath(name)
	if err != nil {
		return "", &ffmpegNotFound{where: where, err: err}
	}
	return found, nil
}

// ffmpegNotFound says what to do when there is no ffmpeg.
type ffmpegNotFound struct {
	where string
	err   error
}

func (e *ffmpegNotFound) Error() string {
	detail := ""
	if !errors.Is(e.err, exec.ErrNotFound) {
		detail = " (" + e.err.Error() + ")"
	}
	return "export: video needs ffmpeg, and there is no " + e.where + detail +
		": install the ffmpeg package or pass its path with --ffmpeg (Debian, Ubuntu: apt-get install ffmpeg)"
}

func (e *ffmpegNotFound) Unwrap() []error { return []error{exec.ErrNotFound, e.err} }

// ffmpegArgs are ffmpeg's arguments: a Matroska stream of raw I420 frames with their times on
// stdin, a variable-frame-rate video at fps in out.
func ffmpegArgs(f Format, fps int, out string) []string {
	args := []string{
		"-hide_banner", "-nostats", "-loglevel", "error",
		"-f", "matroska", "-i", "pipe:0",
		"-map", "0:v:0", "-an", "-sn",
		// One frame per picture sent, each at its time on a 1/fps grid (no duplicates).
		"-fps_mode", "vfr", "-r", strconv.Itoa(fps),
		"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", int(KeyframeInterval/time.Second)),
		// What the frames are (see i420): sRGB pictures in BT.601 limited-range YCbCr. Players
		// assume BT.709 for untagged HD video.
		"-colorspace", "smpte170m", "-color_primaries", "bt709", "-color_trc", "iec61966-2-1", "-color_range", "tv",
	}
	switch f {
	case WebM:
		// VP8 at its fastest real-time setting; constrained quality keeps text sharp, and
		// macroblocks that barely changed are not coded again (static-thresh). On the office
		// benchmark: twice as fast as -cpu-used 8, at a higher PSNR (55 dB).
		args = append(args,
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-static-thresh", "100",
			"-crf", "10", "-b:v", "4M", "-qmin", "4", "-qmax", "42", "-auto-alt-ref", "0",
			"-f", "webm")
	case MP4:
		// x264's veryfast preset: twice as fast as fast, 48 dB PSNR on the office benchmark.
		args = append(args,
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
			"-movflags", "+faststart",
			"-f", "mp4")
	}
	return append(args, "-y", out)
}

// videoSink feeds ffmpeg.
type videoSink struct {
	ctx    context.Context
	ffmpeg string
	output string
	tmp    string
	res    *Result

	cancel context.CancelFunc
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	mkv    *mkvWriter

	first  image.Rectangle // the first desktop
	w, h   int             // the video's size
	canvas *image.RGBA
	conv   *i420
	sent   time.Duration // time of the last frame sent
	last   time.Duration // time of the last frame seen
}

func newVideoSink(ctx context.Context, ffmpeg, output string, res *Result) (*videoSink, error) {
	dir := filepath.Dir(output)
	f, err := os.CreateTemp(dir, "."+filepath.Base(output)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("export: output: %w", err)
	}
	tmp := f.Name()
	_ = f.Close()
	return &videoSink{ctx: ctx, ffmpeg: ffmpeg, output: output, tmp: tmp, res: res}, nil
}

// start runs ffmpeg for w×h frames.
func (v *videoSink) start() error {
	ctx, cancel := context.WithCancel(v.ctx)
	cmd := exec.CommandContext(ctx, v.ffmpeg, ffmpegArgs(v.res.Format, v.res.FPS, v.tmp)...)
	v.stderr = &tailBuffer{max: maxStderr}
	cmd.Stderr = v.stderr
	cmd.WaitDelay = 5 * time.Second
	r, stdin, err := os.Pipe()
	if err != nil {
		cancel()
		return fmt.Errorf("ffmpeg: %w", err)
	}
	growPipe(stdin)
	cmd.Stdin = r
	err = cmd.Start()
	_ = r.Close() // the child has its copy
	if err != nil {
		_ = stdin.Close()
		cancel()
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	v.cancel, v.cmd, v.stdin = cancel, cmd, stdin
	mkv, err := newMKVWriter(stdin, v.w, v.h, v.res.FPS)
	if err != nil {
		return v.failed(err)
	}
	v.mkv = mkv
	return nil
}

func (v *videoSink) frame(img *image.RGBA, at time.Duration, changed bool) error {
	v.last = at
	if v.cmd == nil {
		v.first = img.Bounds()
		v.w, v.h = (v.first.Dx()+1)&^1, (v.first.Dy()+1)&^1
		v.res.Width, v.res.Height = v.w, v.h
		v.conv = newI420(v.w, v.h)
		if err := v.start(); err != nil {
			return err
		}
	}
	if img.Bounds().Size() != v.first.Size() {
		v.res.Letterboxed++
	}
	if !changed {
		return nil
	}
	if v.conv.update(fit(&v.canvas, img, v.w, v.h)) == 0 && v.res.Frames > 0 {
		return nil // redrawn the same
	}
	return v.send(at)
}

func (v *videoSink) send(at time.Duration) error {
	if err := v.mkv.writeFrame(v.conv.buf, at); err != nil {
		return v.failed(fmt.Errorf("write to ffmpeg: %w", err))
	}
	v.res.Frames++
	v.sent = at
	return nil
}

// failed ends ffmpeg after err and returns err with what ffmpeg said.
func (v *videoSink) failed(err error) error {
	_ = v.stdin.Close()
	werr := v.cmd.Wait()
	v.cancel()
	if werr != nil {
		return fmt.Errorf("%w; ffmpeg: %w%s", err, werr, v.stderr.describe())
	}
	return err
}

func (v *videoSink) finish(end time.Duration) error {
	if v.last > v.sent {
		// The picture lasts until the last frame: send it again there.
		if err := v.send(v.last); err != nil {
			return err
		}
	}
	if err := v.stdin.Close(); err != nil {
		return v.failed(fmt.Errorf("close ffmpeg's input: %w", err))
	}
	err := v.cmd.Wait()
	v.cancel()
	if err != nil {
		if cerr := v.ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("ffmpeg: %w%s", err, v.stderr.describe())
	}
	if st, err := os.Stat(v.tmp); err != nil || st.Size() == 0 {
		return fmt.Errorf("ffmpeg wrote nothing to %s", v.tmp)
	}
	if err := os.Rename(v.tmp, v.output); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

func (v *videoSink) abort() {
	if v.cmd != nil && v.cmd.ProcessState == nil {
		v.cancel()
		_ = v.stdin.Close()
		_ = v.cmd.Wait()
	}
	_ = os.Remove(v.tmp)
}

// tailBuffer keeps the last max bytes written to it. exec.Cmd writes to it from one
// goroutine; it is read after Wait.
type tailBuffer struct {
	max     int
	b       []byte
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
		t.dropped = true
	}
	return len(p), nil
}

// describe returns ": " and the output, or nothing when there is none.
func (t *tailBuffer) describe() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	if t.dropped {
		s = "…" + s
	}
	return ": " + s
}
