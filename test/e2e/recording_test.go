package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/export"
	"github.com/sessionconnector/sessionconnector/recorder/keylog"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/xrdppeer"
)

// TestRecordedSessionToXrdp: a session through the proxy to xrdp is recorded to S3 (MinIO); the
// recording verifies, the target was asked for graphics a recorder can decode (no bulk
// compression), it exports to PNG frames that show the xrdp desktop and to WebM and MP4 videos
// that ffprobe reads, the Session names the recording, and Secret Server holds an audit entry
// that names it too.
func TestRecordedSessionToXrdp(t *testing.T) {
	requirePeers(t)
	s3 := s3peer.Start(t)
	peer := xrdppeer.Start(t)
	display := peers.StartXvfb(t)
	w := startRecordedWorld(t, s3, targetSpec{id: 42, machine: peer.Addr, user: peer.User, password: peer.Password, pin: peer.CertSHA256()})
	path, tk := w.launch(42)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := peers.RunFreeRDP(ctx, peer.Redacting(t), display, path, "/cert:ignore", "/log-level:DEBUG", "/size:1024x768")
	if !peer.WaitLog(t, "login successful for user "+peer.User, 45*time.Second) {
		t.Fatalf("xrdp never logged the secret's user on:\n%s\nproxy:\n%s", peer.Log(), w.logs.String())
	}
	if ok, last := xrdppeer.WaitDesktop(ctx, t, display, 30*time.Second); !ok {
		t.Fatalf("the desktop never showed (last colour %s)", last)
	}
	w.session(tk, v1alpha1.SessionActive, 10*time.Second)
	if !peer.WaitFile(t, "ready", xrdppeer.SessionBanner, 20*time.Second) {
		t.Fatalf("the target's shell never became ready:\n%s", peer.Log())
	}
	xrdppeer.TypeLine(ctx, t, display, "echo recorded > typed.txt")
	if !peer.WaitFile(t, "typed.txt", "recorded", 20*time.Second) {
		t.Fatal("the typed line did not reach the target")
	}
	time.Sleep(time.Second) // the echo of the typed line reaches the client
	screen := filepath.Join(t.TempDir(), "client.png")
	if out, err := exec.CommandContext(ctx, "import", "-display", display, "-window", "root", "PNG24:"+screen).CombinedOutput(); err != nil {
		t.Fatalf("screenshot of the client: %v: %s", err, out)
	}
	client.Stop()
	s := w.session(tk, v1alpha1.SessionEnded, 60*time.Second)
	rec := s.Status.Recording
	if rec == nil || !rec.Complete || len(rec.SHA256) != 64 || !strings.HasPrefix(rec.URI, "s3://"+s3.Bucket+"/recordings/"+tk.ID+"/") {
		t.Fatalf("Session recording reference %+v", rec)
	}

	rep, err := storage.Verify(ctx, s3.Client(t), s3.Bucket, "recordings", tk.ID)
	if err != nil {
		t.Fatalf("the recording does not verify: %v", err)
	}
	if !rep.Manifest.Complete || rep.Records < 50 || rep.Manifest.User != "alice" || rep.Manifest.Target != peer.Addr {
		t.Fatalf("recording report %+v (manifest %+v)", rep, rep.Manifest)
	}
	checkDecodable(t, ctx, s3, tk.ID, peer.Password)
	checkExport(t, s3, tk.ID, screen)

	// The keystroke log beside the recording has what was typed.
	obj, err := s3.Client(t).GetObject(ctx, s3.Bucket, "recordings/"+tk.ID+"/"+storage.KeystrokesName, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := keylog.Parse(obj)
	_ = obj.Close()
	if err != nil {
		t.Fatalf("keystroke log: %v", err)
	}
	var typed strings.Builder
	for _, e := range entries {
		typed.WriteString(e.String())
	}
	if !strings.Contains(typed.String(), "echo recorded > typed.txt<Enter>") {
		t.Fatalf("keystroke log %q lacks the typed line", typed.String())
	}

	var audited bool
	for _, a := range w.ss.Emulator.Audits(42) {
		if strings.Contains(a.Notes, rec.URI) && strings.Contains(a.Notes, rec.SHA256) && strings.Contains(a.Notes, tk.ID) &&
			strings.Contains(a.Notes, "watch it at https://connector.example.com/recordings/"+tk.ID) {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no audit entry on secret 42 names the recording: %+v", w.ss.Emulator.Audits(42))
	}
}

// checkDecodable reads the recording back: the client's Client Info asked for no compression
// and the target's graphics updates are not bulk-compressed. The password the proxy injected
// into the Client Info is nowhere in the recording (UTF-8 or UTF-16).
func checkDecodable(t *testing.T, ctx context.Context, s3 *s3peer.Peer, session, targetPassword string) {
	t.Helper()
	rd, err := storage.OpenRecording(ctx, s3.Client(t), s3.Bucket, "recordings", session)
	if err != nil {
		t.Fatal(err)
	}
	var updates, compressed, infos int
	utf16 := make([]byte, 0, 2*len(targetPassword))
	for _, c := range targetPassword {
		utf16 = append(utf16, byte(c), byte(c>>8))
	}
	for {
		r, err := rd.Next()
		if err != nil {
			break
		}
		if bytes.Contains(r.PDU, []byte(targetPassword)) || bytes.Contains(r.PDU, utf16) {
			t.Fatalf("the target's password is in the recording (%s %s PDU of %d bytes)", r.Direction, r.Kind, len(r.PDU))
		}
		switch {
		case r.Direction == capture.ClientToTarget && r.Kind == capture.KindTPKT:
			if _, p, err := mcs.ReadPDU(r.PDU); err == nil {
				if sdr, ok := p.(*mcs.SendDataRequest); ok {
					if _, info, err := pdu.ParseClientInfoPDU(sdr.Data); err == nil {
						infos++
						if on, _ := info.Compression(); on {
							t.Error("the recorded Client Info still asks for bulk compression")
						}
					}
				}
			}
		case r.Direction == capture.TargetToClient && r.Kind == capture.KindTPKT:
			if _, p, err := mcs.ReadPDU(r.PDU); err == nil {
				if sdi, ok := p.(*mcs.SendDataIndication); ok {
					if pdus, err := pdu.ParseSharePDUs(sdi.Data); err == nil {
						for _, sp := range pdus {
							if sp.Data != nil && sp.Data.PDUType2 == pdu.PDUType2Update {
								updates++
								if sp.Data.Compressed() {
									compressed++
								}
							}
						}
					}
				}
			}
		case r.Direction == capture.TargetToClient && r.Kind == capture.KindFastPath:
			if out, err := fastpath.ParseOutput(r.PDU); err == nil {
				for _, u := range out.Updates {
					updates++
					if u.Compressed() {
						compressed++
					}
				}
			}
		}
	}
	if infos != 1 {
		t.Errorf("%d Client Info PDUs recorded, want 1", infos)
	}
	t.Logf("recording: %d graphics updates, none compressed", updates)
	if updates == 0 || compressed > 0 {
		t.Fatalf("%d graphics updates, %d of them bulk-compressed", updates, compressed)
	}
}

// checkExport exports the recording of session to PNG frames and, with the real ffmpeg, to
// WebM and MP4, all of the desktop's size as the recorded Demand Active gives it. The PNG frames are exact: the first, before the logon, does not show
// the xrdp desktop's colour at xrdppeer.DesktopPoint, the last does. ffprobe finds one video
// stream of the session's size in each video, as long as the PNG frames say; a frame decoded
// near the end shows the desktop's colour, within the loss of the codecs. The last PNG frame is
// what the client showed at the end (clientScreen, a screenshot of its display), pixel for
// pixel but for the pointer, which the frames draw and the screenshot lacks.
func checkExport(t *testing.T, s3 *s3peer.Peer, session, clientScreen string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, h := recordedDesktopSize(t, ctx, s3, session)
	run := func(out string, format export.Format) export.Result {
		t.Helper()
		rd, err := storage.OpenRecording(ctx, s3.Client(t), s3.Bucket, "recordings", session)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		res, err := export.Export(ctx, rd.Next, out, export.Options{Format: format})
		if err != nil {
			t.Fatalf("export to %s: %v", format, err)
		}
		t.Logf("export to %s: %+v", format, res)
		if res.Width != w || res.Height != h || res.Frames < 2 || res.Stats.Skipped != 0 {
			t.Fatalf("export to %s: %+v, want %dx%d, frames, nothing skipped", format, res, w, h)
		}
		return res
	}
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	res := run(frames, export.PNG)
	index, err := os.Open(filepath.Join(frames, export.IndexName))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for sc := bufio.NewScanner(index); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	_ = index.Close()
	if len(lines) != res.Frames+1 {
		t.Fatalf("%s has %d lines for %d frames", export.IndexName, len(lines), res.Frames)
	}
	want, err := strconv.ParseUint(strings.TrimPrefix(xrdppeer.DesktopColor, "#"), 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	desktop := color.NRGBA{uint8(want >> 16), uint8(want >> 8), uint8(want), 0xFF}
	pixel := func(n int) color.NRGBA {
		t.Helper()
		f, err := os.Open(filepath.Join(frames, export.FrameName(n)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", export.FrameName(n), err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Fatalf("%s is %v, want %dx%d", export.FrameName(n), b, w, h)
		}
		return color.NRGBAModel.Convert(img.At(xrdppeer.DesktopPoint.X, xrdppeer.DesktopPoint.Y)).(color.NRGBA)
	}
	if c := pixel(1); c == desktop {
		t.Errorf("the first frame already shows the desktop's %s at %v", xrdppeer.DesktopColor, xrdppeer.DesktopPoint)
	}
	if c := pixel(res.Frames); c != desktop {
		t.Errorf("the last frame (%s) shows %v at %v, want the desktop's %s", lines[len(lines)-1], c, xrdppeer.DesktopPoint, xrdppeer.DesktopColor)
	}
	compareWithClient(t, filepath.Join(frames, export.FrameName(res.Frames)), clientScreen)

	ffmpeg, ffprobe, ok := findFFmpeg(t)
	if !ok {
		return
	}
	for _, v := range []struct {
		format export.Format
		codecs string
	}{{export.WebM, "vp8 vp9"}, {export.MP4, "h264"}} {
		out := filepath.Join(dir, "session."+string(v.format))
		vres := run(out, v.format)
		b, err := exec.Command(ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", out).Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", out, err)
		}
		var probe struct {
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
		if err := json.Unmarshal(b, &probe); err != nil {
			t.Fatalf("ffprobe %s: %v", out, err)
		}
		duration, _ := strconv.ParseFloat(probe.Format.Duration, 64)
		if len(probe.Streams) != 1 || probe.Streams[0].CodecType != "video" || !strings.Contains(v.codecs, probe.Streams[0].CodecName) ||
			probe.Streams[0].Width != w || probe.Streams[0].Height != h || duration <= 0 {
			t.Fatalf("ffprobe %s: %s; want one %s video stream %dx%d with a duration", out, b, v.codecs, w, h)
		}
		if d := time.Duration(duration * float64(time.Second)); d < vres.Duration-200*time.Millisecond || d > vres.Duration+200*time.Millisecond {
			t.Errorf("%s lasts %s, the recording %s", out, d, vres.Duration)
		}
		// The picture half a second before the end; the fps filter repeats the held frames of
		// the variable-frame-rate video so that -ss lands on the one shown then.
		at := vres.Duration - 500*time.Millisecond
		px, err := exec.Command(ffmpeg, "-v", "error", "-i", out,
			"-vf", fmt.Sprintf("fps=%d,format=rgb24,crop=1:1:%d:%d", export.MaxFPS, xrdppeer.DesktopPoint.X, xrdppeer.DesktopPoint.Y),
			"-ss", fmt.Sprintf("%.3f", at.Seconds()), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
		if err != nil || len(px) != 3 {
			t.Fatalf("ffmpeg: pixel of %s at %s: %v (%d bytes)", out, at, err, len(px))
		}
		const tolerance = 12 // 4:2:0 and lossy compression
		for i, c := range []uint8{desktop.R, desktop.G, desktop.B} {
			if d := int(px[i]) - int(c); d < -tolerance || d > tolerance {
				t.Errorf("%s at %s shows %v at %v, want the desktop's %s (±%d)", out, at, px, xrdppeer.DesktopPoint, xrdppeer.DesktopColor, tolerance)
				break
			}
		}
	}
}

// findFFmpeg returns ffmpeg and ffprobe (Debian's ffmpeg package). Without them it logs that
// video export was not checked, or fails the test when peers are required.
func findFFmpeg(t *testing.T) (ffmpeg, ffprobe string, ok bool) {
	t.Helper()
	var paths []string
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		p, err := exec.LookPath(name)
		if err != nil {
			msg := fmt.Sprintf("%s not found (%v); install it with: apt-get install -y --no-install-recommends ffmpeg", name, err)
			if peers.Required() {
				t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
			}
			t.Logf("video export not checked: %s", msg)
			return "", "", false
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1], true
}

// recordedDesktopSize returns the desktop size of the first Demand Active of a recording,
// decoded with the rdp packages (not the replay the export uses).
func recordedDesktopSize(t *testing.T, ctx context.Context, s3 *s3peer.Peer, session string) (w, h int) {
	t.Helper()
	rd, err := storage.OpenRecording(ctx, s3.Client(t), s3.Bucket, "recordings", session)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for {
		r, err := rd.Next()
		if err != nil {
			t.Fatalf("no Demand Active in the recording: %v", err)
		}
		if r.Direction != capture.TargetToClient || r.Kind != capture.KindTPKT {
			continue
		}
		_, p, err := mcs.ReadPDU(r.PDU)
		if err != nil {
			continue
		}
		sdi, ok := p.(*mcs.SendDataIndication)
		if !ok {
			continue
		}
		da, err := pdu.ParseDemandActive(sdi.Data)
		if err != nil {
			continue
		}
		set, ok := da.Capabilities.Get(pdu.CapsTypeBitmap)
		if !ok {
			t.Fatal("the recorded Demand Active has no bitmap capability set")
		}
		bc, err := pdu.ParseBitmapCapability(set.Data)
		if err != nil {
			t.Fatal(err)
		}
		return int(bc.DesktopWidth), int(bc.DesktopHeight)
	}
}

// compareWithClient checks that the last exported frame is the picture the client showed: the
// FreeRDP window sits at the top left of its display, so the two must match over their common
// area, except where the frame draws the pointer (one arrow's box, 12x19 pixels).
func compareWithClient(t *testing.T, framePath, screenPath string) {
	t.Helper()
	load := func(path string) image.Image {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return img
	}
	frame, screen := load(framePath), load(screenPath)
	area := frame.Bounds().Intersect(screen.Bounds())
	var diff image.Rectangle
	n := 0
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			a := color.NRGBAModel.Convert(frame.At(x, y)).(color.NRGBA)
			b := color.NRGBAModel.Convert(screen.At(x, y)).(color.NRGBA)
			if a.R != b.R || a.G != b.G || a.B != b.B {
				diff = diff.Union(image.Rect(x, y, x+1, y+1))
				n++
			}
		}
	}
	t.Logf("last frame vs the client's screen over %v: %d pixels differ, within %v", area, n, diff)
	if diff.Dx() > 12 || diff.Dy() > 19 {
		t.Errorf("the last exported frame is not what the client showed: %d pixels differ, within %v", n, diff)
	}
}
