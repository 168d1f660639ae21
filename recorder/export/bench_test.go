package export

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay"
)

// BenchmarkExport exports a 6-minute office-like session (officeSession) read from its file
// form (so chunk decompression and verification count) and reports x-realtime: seconds of
// session exported per second. The baselines, in the same run:
//   - decode-only: the replay alone, every frame drawn and thrown away — what any export
//     costs at least;
//   - rawvideo-every-frame: every frame piped to ffmpeg as RGBA (-f rawvideo at the frame
//     rate) and encoded to WebM, the straightforward way this package avoids.
//
// Run: go test -run '^$' -bench Export -benchtime 1x ./recorder/export/
func BenchmarkExport(b *testing.B) {
	const minutes = 6
	ses := officeSession(b, minutes)
	data := fileForm(b, ses.Records)
	length := ses.Records[len(ses.Records)-1].Time.Sub(ses.Records[0].Time)
	b.Logf("session: %s, %d records, %d bytes recorded", length, len(ses.Records), len(data))
	open := func(b *testing.B) (*capture.Reader, func()) {
		r, err := capture.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		return r, r.Close
	}
	report := func(b *testing.B) {
		b.ReportMetric(length.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
	}

	b.Run("decode-only", func(b *testing.B) {
		for b.Loop() {
			r, done := open(b)
			frames := 0
			if _, err := replay.Frames(r.Next, time.Second/DefaultFPS, func(replay.Frame) error { frames++; return nil }); err != nil {
				b.Fatal(err)
			}
			done()
		}
		report(b)
	})
	for _, f := range []Format{WebM, MP4, PNG} {
		b.Run(string(f), func(b *testing.B) {
			if f != PNG {
				benchFFmpeg(b)
			}
			dir := b.TempDir()
			var res Result
			for i := 0; b.Loop(); i++ {
				r, done := open(b)
				out := filepath.Join(dir, fmt.Sprintf("out-%d.%s", i, f))
				if f == PNG {
					out = filepath.Join(dir, fmt.Sprintf("png-%d", i))
				}
				var err error
				if res, err = Export(context.Background(), r.Next, out, Options{Format: f}); err != nil {
					b.Fatal(err)
				}
				done()
			}
			report(b)
			b.ReportMetric(float64(res.Frames), "frames")
		})
	}
	b.Run("rawvideo-every-frame", func(b *testing.B) {
		ffmpeg := benchFFmpeg(b)
		dir := b.TempDir()
		for i := 0; b.Loop(); i++ {
			r, done := open(b)
			out := filepath.Join(dir, fmt.Sprintf("raw-%d.webm", i))
			var cmd *exec.Cmd
			var stdin io.WriteCloser
			_, err := replay.Frames(r.Next, time.Second/DefaultFPS, func(fr replay.Frame) error {
				if cmd == nil {
					size := fr.Image.Bounds().Size()
					cmd = exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error",
						"-f", "rawvideo", "-pix_fmt", "rgba", "-s", fmt.Sprintf("%dx%d", size.X, size.Y),
						"-framerate", strconv.Itoa(DefaultFPS), "-i", "pipe:0",
						"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-crf", "10", "-b:v", "4M",
						"-pix_fmt", "yuv420p", "-y", out)
					var err error
					if stdin, err = cmd.StdinPipe(); err != nil {
						return err
					}
					if err := cmd.Start(); err != nil {
						return err
					}
				}
				_, err := stdin.Write(fr.Image.Pix)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			_ = stdin.Close()
			if err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
			done()
		}
		report(b)
	})
}

func benchFFmpeg(b *testing.B) string {
	b.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Skip("ffmpeg not installed (apt-get install ffmpeg)")
	}
	return path
}
