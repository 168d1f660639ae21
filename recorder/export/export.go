// Package export turns a session recording into something a person can watch: a WebM (VP8) or
// MP4 (H.264) video encoded by ffmpeg, or a folder of PNG frames with an index.
//
// The records are replayed with recorder/replay, which draws the desktop as the target did, at
// a fixed frame rate (Options.FPS, 10 by default). Most of a typical session is a still screen,
// so only frames that differ from the previous one are written: a video gets a frame with its
// time whenever the picture changed (ffmpeg holds it until the next, and the file is
// variable-frame-rate), a PNG folder gets a file per changed picture and a line in frames.tsv.
//
// Times: a frame's time is its offset from the recording's first record, and the first picture
// is shown from 0 — so a moment of the video, a line of frames.tsv and an offset into the
// recording (or its keystroke log) are on one clock.
//
// A video keeps the first desktop size for its whole length (rounded up to even numbers, which
// H.264 and VP8 in 4:2:0 need; the extra column or row is black): a picture of another size
// after a resize is centred on black, cropped where it is larger. PNG frames always have the
// size the desktop had at their moment.
//
// Recordings hold everything the user saw: exports are as secret as the recording.
package export

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay"
)

// Format is an output format.
type Format string

// Formats.
const (
	// WebM is a WebM file with VP8 video (libvpx).
	WebM Format = "webm"
	// MP4 is an MP4 file with H.264 video (libx264), its index at the front (+faststart).
	MP4 Format = "mp4"
	// PNG is a folder of PNG files, frame-000001.png and on, and frames.tsv.
	PNG Format = "png"
)

// Frame rate bounds and default.
const (
	DefaultFPS = 10
	MinFPS     = 1
	MaxFPS     = 60
)

// ParseFormat returns the Format named s ("webm", "mp4" or "png", any case).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case WebM, MP4, PNG:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (webm, mp4 or png)", s)
}

// FormatOf tells the format from an output path: .webm and .mp4 files are videos, a path
// without an extension (or ending in a slash) is a folder of PNG frames.
func FormatOf(output string) (Format, error) {
	if strings.HasSuffix(output, "/") || strings.HasSuffix(output, string(filepath.Separator)) {
		return PNG, nil
	}
	switch ext := strings.ToLower(filepath.Ext(output)); ext {
	case ".webm":
		return WebM, nil
	case ".mp4":
		return MP4, nil
	case "":
		return PNG, nil
	default:
		return "", fmt.Errorf("cannot tell the format from the extension %q of %s (use .webm, .mp4 or a folder for PNG frames, or give the format)", ext, output)
	}
}

// Options of an export.
type Options struct {
	// Format is the output format (required).
	Format Format
	// FPS is the frame rate, 1 to 60; 0 means DefaultFPS.
	FPS int
	// FFmpegPath is the ffmpeg program for video formats; empty means "ffmpeg" on PATH.
	FFmpegPath string
}

// Result describes an export.
type Result struct {
	Format Format
	// Width and Height are the size of the pictures: for a video the first desktop size
	// rounded up to even numbers, for PNG frames the first desktop size.
	Width, Height int
	// FPS is the frame rate of the replay.
	FPS int
	// Frames is the number of pictures written: frames given to ffmpeg, or PNG files. A
	// picture is written only when it differs from the previous one.
	Frames int
	// Duration is the length of the output: from the recording's first record to its last
	// frame, plus one frame interval.
	Duration time.Duration
	// Letterboxed is the number of video frames whose desktop size differed from the first,
	// fitted into the first size.
	Letterboxed int
	// Stats are the replay's counts: records, graphics updates, what could not be drawn.
	Stats replay.Stats
}

// ErrNoDesktop is returned for a recording in which the desktop never got a size (no Demand
// Active: the session ended before its desktop showed), which has no picture to export.
var ErrNoDesktop = errors.New("the recording never shows a desktop (no Demand Active)")

// sink receives the frames of the replay.
type sink interface {
	// frame takes one frame; at is when it shows (0 for the first).
	frame(img *image.RGBA, at time.Duration, changed bool) error
	// finish completes the output after the last frame, whose interval ends at end.
	finish(end time.Duration) error
	// abort removes what was written.
	abort()
}

// Export replays the records that next returns (io.EOF after the last, as
// capture.Reader.Next does) and writes them to output: a video file, or for PNG a folder that
// must not exist or be empty. The output appears only when the export succeeds. An error from
// next (a chunk that does not verify) ends the export with that error; records the replay
// cannot draw do not (Result.Stats counts them). Cancelling ctx stops the export and ffmpeg.
func Export(ctx context.Context, next func() (capture.Record, error), output string, opts Options) (Result, error) {
	res := Result{Format: opts.Format, FPS: opts.FPS}
	if res.FPS == 0 {
		res.FPS = DefaultFPS
	}
	if res.FPS < MinFPS || res.FPS > MaxFPS {
		return res, fmt.Errorf("export: frame rate %d out of range (%d to %d)", res.FPS, MinFPS, MaxFPS)
	}
	if output == "" {
		return res, errors.New("export: no output path")
	}
	var (
		s   sink
		err error
	)
	switch opts.Format {
	case WebM, MP4:
		var ffmpeg string
		if ffmpeg, err = FindFFmpeg(opts.FFmpegPath); err != nil {
			return res, err
		}
		s, err = newVideoSink(ctx, ffmpeg, output, &res)
	case PNG:
		s, err = newPNGSink(output, &res)
	default:
		return res, fmt.Errorf("export: unknown format %q (webm, mp4 or png)", opts.Format)
	}
	if err != nil {
		return res, err
	}
	every := time.Second / time.Duration(res.FPS)
	var (
		frames int
		last   time.Duration
	)
	stats, err := replay.Frames(next, every, func(f replay.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		at := f.At
		if frames == 0 {
			at = 0
		}
		frames++
		last = f.At
		return s.frame(f.Image, at, f.Changed || frames == 1)
	})
	res.Stats = stats
	if err == nil && frames == 0 {
		err = ErrNoDesktop
	}
	if cerr := ctx.Err(); cerr != nil {
		err = cerr // what ffmpeg said as it was killed does not matter
	}
	if err != nil {
		s.abort()
		return res, fmt.Errorf("export: %w", err)
	}
	res.Duration = last + every
	if err := s.finish(res.Duration); err != nil {
		s.abort()
		return res, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

// fit returns img as a w×h picture: img itself when it has that size, else canvas (allocated
// when nil) with img centred on black, cropped where it is larger.
func fit(canvas **image.RGBA, img *image.RGBA, w, h int) *image.RGBA {
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return img
	}
	if *canvas == nil {
		*canvas = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	c := *canvas
	for i := 0; i < len(c.Pix); i += 4 {
		c.Pix[i], c.Pix[i+1], c.Pix[i+2], c.Pix[i+3] = 0, 0, 0, 0xFF
	}
	off := image.Pt((w-b.Dx())/2, (h-b.Dy())/2)
	draw.Draw(c, image.Rectangle{Min: off, Max: off.Add(b.Size())}, img, b.Min, draw.Src)
	return c
}
