package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/spf13/cobra"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/export"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
)

type storageFlags struct {
	endpoint, bucket, prefix, region, caFile string
}

func newRecorderCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recorder",
		Short: "Work with session recordings in S3-compatible storage",
	}
	cmd.AddCommand(newRecorderVerifyCommand(), newRecorderExportCommand())
	return cmd
}

func newRecorderVerifyCommand() *cobra.Command {
	f := &storageFlags{}
	var session string
	cmd := &cobra.Command{
		Use:   "verify --endpoint URL --bucket NAME --session ID",
		Short: "Check a recording end to end: every chunk, the hash chain and the manifest",
		Long: `verify reads a session's manifest and every chunk it lists from the bucket, checks each
chunk's hash, the hash chain between chunks and that the chunks are the manifest's. A bad
recording fails with the number of the first wrong chunk. Credentials come from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := f.client()
			if err != nil {
				return err
			}
			rep, err := storage.Verify(cmd.Context(), client, f.bucket, f.prefix, session)
			if err != nil {
				return fmt.Errorf("recording %s does not verify: %w", session, err)
			}
			m := rep.Manifest
			state := "complete"
			if !m.Complete {
				state = "interrupted"
			}
			if len(m.Gaps) > 0 {
				state += fmt.Sprintf(", %d chunk runs lost", len(m.Gaps))
			}
			if len(m.Dropped) > 0 {
				var n int64
				for _, d := range m.Dropped {
					n += d.Records
				}
				state += fmt.Sprintf(", %d PDUs dropped by a best-effort recorder", n)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "recording %s verifies: %d chunks, %d records, %s, %s to %s, user %s, target %s\n",
				session, rep.Chunks, rep.Records, state, m.Start.UTC().Format("2006-01-02T15:04:05Z"), m.End.UTC().Format("2006-01-02T15:04:05Z"), m.User, m.Target)
			return err
		},
	}
	f.addFlags(cmd, " (required)")
	cmd.Flags().StringVar(&session, "session", "", "session id (required)")
	for _, name := range []string{"endpoint", "bucket", "session"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// addFlags adds the bucket's flags to cmd; required is appended to the help of --endpoint and
// --bucket.
func (f *storageFlags) addFlags(cmd *cobra.Command, required string) {
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com"+required)
	fl.StringVar(&f.bucket, "bucket", "", "bucket"+required)
	fl.StringVar(&f.prefix, "prefix", "", "prefix of the recordings in the bucket")
	fl.StringVar(&f.region, "region", "", "region of the bucket")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM bundle that signs the endpoint's certificate")
}

func newRecorderExportCommand() *cobra.Command {
	f := &storageFlags{}
	var session, input, output, format, ffmpeg string
	var fps int
	cmd := &cobra.Command{
		Use:   "export (--endpoint URL --bucket NAME --session ID | --input PATH) --output FILE|DIR",
		Short: "Turn a recording into a video (WebM or MP4, with ffmpeg) or PNG frames",
		Long: `export replays a recording and writes what the user saw: a WebM (VP8) or MP4 (H.264) video,
encoded by ffmpeg, or a folder of PNG frames with an index, frames.tsv. The format comes from
--format, else from --output: name.webm, name.mp4, or a folder (no extension) for PNG frames,
which must not exist or be empty.

The recording is read from the bucket (credentials from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY), or with --input from a local folder holding manifest.json and the chunk
files (a downloaded recording), a folder of chunk files without a manifest (the proxy's spool),
or a file of chunks one after another. Every chunk is verified as it is read: a damaged
recording fails with the number of the first bad chunk, and no output is left.

Only pictures that changed are written. Video needs ffmpeg: install the ffmpeg package or give
its path with --ffmpeg. See docs/recordings.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := export.Options{FPS: fps, FFmpegPath: ffmpeg}
			var err error
			if format != "" {
				opts.Format, err = export.ParseFormat(format)
			} else {
				opts.Format, err = export.FormatOf(output)
			}
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			if fps < export.MinFPS || fps > export.MaxFPS {
				return fmt.Errorf("--fps %d out of range (%d to %d)", fps, export.MinFPS, export.MaxFPS)
			}
			ctx := cmd.Context()
			var (
				next func() (capture.Record, error)
				name string
			)
			switch {
			case input != "" && (f.endpoint != "" || f.bucket != "" || f.prefix != "" || session != ""):
				return errors.New("--input reads a recording on disk: give it without --endpoint, --bucket, --prefix and --session")
			case input != "":
				l, err := export.OpenLocal(input)
				if err != nil {
					return err
				}
				defer l.Close()
				next, name = l.Next, input
			case f.endpoint == "" || f.bucket == "" || session == "":
				return errors.New("give --endpoint, --bucket and --session of a recording in a bucket, or --input with a recording on disk")
			default:
				client, err := f.client()
				if err != nil {
					return err
				}
				r, err := storage.OpenRecording(ctx, client, f.bucket, f.prefix, session)
				if err != nil {
					return fmt.Errorf("recording %s: %w", session, err)
				}
				defer r.Close()
				next, name = r.Next, session
			}
			res, err := export.Export(ctx, next, output, opts)
			if err != nil {
				return fmt.Errorf("recording %s: %w", name, err)
			}
			what := "frames"
			if res.Format == export.PNG {
				what = "PNG files"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "recording %s exported to %s: %s %dx%d, %s at %d fps, %d %s; %d records, %d graphics updates\n",
				name, output, res.Format, res.Width, res.Height, res.Duration.Round(time.Millisecond), res.FPS, res.Frames, what, res.Stats.Records, res.Stats.Updates)
			if res.Letterboxed > 0 && err == nil {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "the desktop changed size: %d frames fitted into the first size\n", res.Letterboxed)
			}
			if res.Stats.Skipped > 0 && err == nil {
				_, err = fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d graphics updates could not be drawn (the first: %s)\n", res.Stats.Skipped, res.Stats.FirstSkip)
			}
			return err
		},
	}
	f.addFlags(cmd, "")
	fl := cmd.Flags()
	fl.StringVar(&session, "session", "", "session id of a recording in the bucket")
	fl.StringVar(&input, "input", "", "a recording on disk instead: folder (manifest.json and chunk files, or chunk files alone) or file of chunks")
	fl.StringVar(&output, "output", "", "video file (.webm, .mp4) or folder for PNG frames (required)")
	fl.StringVar(&format, "format", "", "webm, mp4 or png (default: from --output's extension; none means png)")
	fl.IntVar(&fps, "fps", export.DefaultFPS, "frames per second of recording time, 1 to 60")
	fl.StringVar(&ffmpeg, "ffmpeg", "", "ffmpeg program for video (default: ffmpeg on PATH)")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// client builds a minio-go client from the flags and the AWS_* environment.
func (f *storageFlags) client() (*minio.Client, error) {
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		return nil, errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	var ca []byte
	if f.caFile != "" {
		var err error
		if ca, err = os.ReadFile(f.caFile); err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
	}
	c, err := storage.NewClient(storage.Endpoint{URL: f.endpoint, Region: f.region, CABundle: string(ca),
		AccessKeyID: access, SecretAccessKey: secret})
	if err != nil {
		return nil, fmt.Errorf("--endpoint/--ca-file: %w", err)
	}
	return c, nil
}
