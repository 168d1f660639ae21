// Package officebench measures what recording costs a typical office session against real
// peers: FreeRDP (test/peers) → the proxy in standalone mode → xrdp (test/xrdppeer), with the
// recording in a real MinIO (test/s3peer).
//
// BenchmarkOfficeSession runs the same scripted activity (OFFICEBENCH_CYCLES times 60 s, default
// once) twice: in a session that is recorded, where the proxy rewrites the client's offer so
// that the target sends decodable graphics (no bulk compression, no drawing orders, codecs or
// surface commands), and in one that is not, where FreeRDP's offer goes to xrdp untouched. It
// reports the target→client bytes per session-hour of each and their ratio, and the bytes the
// recording stores per hour, and keeps the recording (manifest.json and chunk files, as the
// bucket lays them out) in OFFICEBENCH_ARTIFACTS (default $TMPDIR/sessionconnector-officebench).
//
// It takes about three minutes: run it once (-benchtime 1x). Missing peers skip it, unless
// SC_REQUIRE_PEERS=1; so does -short.
package officebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/xrdppeer"
)

const (
	// cycle is the length of the scripted activity; OFFICEBENCH_CYCLES repeats it.
	cycle = 60 * time.Second
	// keyDelay is the time between keystrokes: 5.5 keys per second, about 65 words per minute.
	keyDelay = 180 * time.Millisecond
	// desktop is the session's size.
	desktop = "1024x768"
)

// deskScript is written to the session's working folder: window activity the typed commands
// start. There is no window manager in the peer's session, so windows are placed, moved and
// closed with xdotool; the keyboard focus stays with the session's xterm.
const deskScript = `#!/bin/bash
# Written by sessionconnector's test/officebench: window activity in the session. Each action
# is logged to desk.log, which the benchmark checks.
case "$1" in
open)
	# A document window that pages through a text, a screenful every 3 s, as a reader would.
	xterm -geometry 80x24+$((330 + 60 * $2))+$((230 + 40 * $2)) -T "doc$2" -e bash -c '
		n=0
		while IFS= read -r line; do
			printf "%s\n" "$line"
			n=$((n + 1))
			[ $((n % 20)) -eq 0 ] && sleep 3
		done < /usr/share/common-licenses/GPL-3
		sleep 3600' >/dev/null 2>&1 &
	echo "opened $2" >>desk.log
	;;
move)
	# Drag the window across the screen in small steps, as a user moves it with the mouse.
	id=$(timeout 5 xdotool search --sync --name "^doc$2\$" | head -1)
	[ -n "$id" ] || { echo "no window $2" >>desk.log; exit 1; }
	for i in $(seq 0 24); do
		xdotool windowmove "$id" $((100 + 16 * i)) $((300 - 6 * i))
		sleep 0.04
	done
	echo "moved $2" >>desk.log
	;;
close)
	xdotool search --name "^doc$2\$" windowkill && echo "closed $2" >>desk.log
	;;
esac
`

// deskLog is what desk.log holds after one cycle of the timeline.
const deskLog = "opened 1\nmoved 1\nopened 2\nclosed 1\nclosed 2\n"

// notesLine is the line the timeline types into notes.txt.
const notesLine = "Weekly status: budget review done, hiring plan next"

// step is one action of the scripted activity, at an offset into the cycle.
type step struct {
	at   time.Duration
	what string
	// typed is a line to type (then Return) in the session's shell; otherwise the pointer
	// moves along path.
	typed string
	path  [][2]int
}

// timeline is one cycle of office-like work: typing at human speed, a listing scrolling past,
// two document windows opened, one dragged across the screen, both closed, the pointer moved
// now and then, and idle gaps (reading).
var timeline = []step{
	{at: 0, what: "type a line", typed: `echo "` + notesLine + `" >> notes.txt`},
	{at: 13 * time.Second, what: "scroll a listing", typed: "ls -la /usr/bin"},
	{at: 17 * time.Second, what: "move the pointer", path: [][2]int{{200, 150}, {400, 300}, {600, 420}, {750, 500}, {500, 380}, {300, 200}}},
	{at: 19 * time.Second, what: "open a document", typed: "./desk.sh open 1"},
	{at: 27 * time.Second, what: "drag the document", typed: "./desk.sh move 1"},
	{at: 33 * time.Second, what: "open a second document", typed: "./desk.sh open 2"},
	{at: 38 * time.Second, what: "scroll a text", typed: "head -100 /usr/share/common-licenses/GPL-2"},
	{at: 46500 * time.Millisecond, what: "move the pointer", path: [][2]int{{700, 600}, {500, 500}, {350, 350}, {150, 120}}},
	{at: 48 * time.Second, what: "close the first document", typed: "./desk.sh close 1"},
	{at: 53 * time.Second, what: "close the second document", typed: "./desk.sh close 2"},
	// idle until the end of the cycle
}

// run is what one session of the activity measured.
type run struct {
	name     string
	session  string
	activity time.Duration
	// Client leg (TCP, TLS included) during the activity, and from launch to the activity.
	toClient, toTarget               int64
	connectToClient, connectToTarget int64
	// The proxy's relayed PDU bytes during the activity.
	relayedToClient float64
	// Recorded sessions: the chunks stored for the activity window (prorated by time) and for
	// the whole session, the PDU bytes they hold, and where the recording was saved.
	storedWindow, storedTotal float64
	chunks, records           int
	rawToClient, rawToTarget  int64
	sessionLength             time.Duration
	saved                     string
}

func (r run) perHour(bytes float64) float64 { return bytes * float64(time.Hour) / float64(r.activity) }

func BenchmarkOfficeSession(b *testing.B) {
	if testing.Short() && !peers.Required() {
		b.Skip("end-to-end benchmark with real RDP peers; skipped in -short mode")
	}
	cycles := 1
	if v, err := strconv.Atoi(os.Getenv("OFFICEBENCH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	s3 := s3peer.Start(b)
	peer := xrdppeer.Start(b)
	display := peers.StartXvfb(b)
	front := startCounter(b)
	w := startWorld(b, s3, peer, front.addr)
	front.upstream.Store(w.srv.RDPAddr)
	if err := os.WriteFile(filepath.Join(peer.WorkDir, "desk.sh"), []byte(deskScript), 0o755); err != nil {
		b.Fatal(err)
	}

	var runs []run
	for range b.N {
		runs = runs[:0]
		for _, launcher := range []string{recordedLauncher, plainLauncher} {
			runs = append(runs, office(b, w, s3, peer, display, front, launcher, cycles))
		}
	}
	b.StopTimer()
	rec, plain := runs[0], runs[1]
	mb := func(x float64) float64 { return x / 1e6 }
	ratio := float64(rec.toClient) / float64(plain.toClient)
	b.ReportMetric(mb(rec.perHour(float64(rec.toClient))), "recorded-to-client-MB/h")
	b.ReportMetric(mb(plain.perHour(float64(plain.toClient))), "unrecorded-to-client-MB/h")
	b.ReportMetric(ratio, "recorded/unrecorded-x")
	b.ReportMetric(mb(rec.perHour(rec.storedWindow)), "stored-MB/h")

	fmt.Printf("\noffice session: %s of scripted activity (typing at %.1f keys/s, a listing and a text scrolling, two windows\n"+
		"opened, one dragged, both closed, pointer moves, idle gaps), %s, FreeRDP → proxy (standalone) → xrdp; per hour = activity × %.0f:\n",
		rec.activity.Round(time.Second), float64(time.Second)/float64(keyDelay), desktop, float64(time.Hour)/float64(rec.activity))
	fmt.Printf("  %-44s %14s %14s %14s %20s\n", "", "target→client", "(PDUs, proxy)", "client→target", "logon to the shell")
	for _, r := range runs {
		fmt.Printf("  %-44s %9.1f MB/h %9.1f MB/h %9.2f MB/h %11.2f MB down\n", r.name,
			mb(r.perHour(float64(r.toClient))), mb(r.perHour(r.relayedToClient)), mb(r.perHour(float64(r.toTarget))), mb(float64(r.connectToClient)))
	}
	fmt.Printf("  %-44s %9.2f ×\n", "recorded / unrecorded, target→client", ratio)
	fmt.Printf("  stored recording: %.1f MB per hour of activity (chunk objects in MinIO; the PDUs they hold: %.1f MB/h target→client\n"+
		"    and %.2f MB/h client→target, zstd ×%.1f); whole session %.2f MB in %d chunks, %d records over %s\n",
		mb(rec.perHour(rec.storedWindow)), mb(rec.perHour(float64(rec.rawToClient)*rec.storedWindow/rec.storedTotal)),
		mb(rec.perHour(float64(rec.rawToTarget)*rec.storedWindow/rec.storedTotal)),
		float64(rec.rawToClient+rec.rawToTarget)/rec.storedTotal, mb(rec.storedTotal), rec.chunks, rec.records, rec.sessionLength.Round(time.Second))
	fmt.Printf("  recording of the office session (manifest.json and chunks): %s\n", rec.saved)
}

// office runs one session of the scripted activity through a launcher and measures it.
func office(b *testing.B, w *world, s3 *s3peer.Peer, peer *xrdppeer.Peer, display string, front *counter, launcher string, cycles int) run {
	b.Helper()
	r := run{name: "unrecorded (FreeRDP's offer untouched)"}
	if launcher == recordedLauncher {
		r.name = "recorded (decodable graphics asked for)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*cycle+5*time.Minute)
	defer cancel()
	for _, f := range []string{"ready", "desk.log", "notes.txt"} {
		_ = os.Remove(filepath.Join(peer.WorkDir, f))
	}
	logons := len(peer.SessionDisplays())
	startToClient, startToTarget := front.toClient.Load(), front.toTarget.Load()

	rdp, tk := w.launch(b, launcher)
	client := peers.RunFreeRDP(ctx, peer.Redacting(b), display, rdp, "/cert:ignore", "/size:"+desktop)
	for deadline := time.Now().Add(60 * time.Second); len(peer.SessionDisplays()) == logons; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("xrdp never logged the secret's user on:\n%s\nproxy:\n%s\nclient:\n%s", peer.Log(), w.logs.String(), client.Output())
		}
	}
	if ok, last := xrdppeer.WaitDesktop(ctx, b, display, 30*time.Second); !ok {
		b.Fatalf("the desktop never showed (last colour %s)", last)
	}
	w.session(b, tk, v1alpha1.SessionActive, 10*time.Second)
	if !peer.WaitFile(b, "ready", xrdppeer.SessionBanner, 30*time.Second) {
		b.Fatalf("the target's shell never became ready:\n%s", peer.Log())
	}

	relayed0 := w.relayed(b)
	toClient0, toTarget0 := front.toClient.Load(), front.toTarget.Load()
	r.connectToClient, r.connectToTarget = toClient0-startToClient, toTarget0-startToTarget
	begin := time.Now()
	for c := range cycles {
		for _, s := range timeline {
			at := begin.Add(time.Duration(c)*cycle + s.at)
			if late := time.Since(at); late > time.Second {
				b.Logf("%s: %q starts %s late", r.name, s.what, late.Round(time.Millisecond))
			}
			time.Sleep(time.Until(at))
			act(ctx, b, display, s)
		}
	}
	time.Sleep(time.Until(begin.Add(time.Duration(cycles) * cycle)))
	end := time.Now()
	relayed1 := w.relayed(b)
	r.activity = end.Sub(begin)
	r.toClient, r.toTarget = front.toClient.Load()-toClient0, front.toTarget.Load()-toTarget0
	r.relayedToClient = relayed1["target_to_client"] - relayed0["target_to_client"]

	// The activity happened in the session: the typed line and the window actions.
	if got, _ := peer.ReadFile("notes.txt"); got != strings.Repeat(notesLine+"\n", cycles) {
		b.Fatalf("%s: notes.txt holds %q: the typing did not all reach the session", r.name, got)
	}
	if got, _ := peer.ReadFile("desk.log"); got != strings.Repeat(deskLog, cycles) {
		b.Fatalf("%s: desk.log holds %q, want %q", r.name, got, strings.Repeat(deskLog, cycles))
	}

	client.Stop()
	s := w.session(b, tk, v1alpha1.SessionEnded, 2*time.Minute)
	r.session = tk.ID
	if launcher != recordedLauncher {
		if s.Status.Recording != nil {
			b.Fatalf("the unrecorded session has a recording: %+v", s.Status.Recording)
		}
		return r
	}
	if s.Status.Recording == nil || !s.Status.Recording.Complete {
		b.Fatalf("the recording is not complete: %+v", s.Status.Recording)
	}
	m := saveRecording(ctx, b, s3, tk.ID)
	r.saved = filepath.Dir(m.path)
	r.chunks = len(m.Chunks)
	if len(m.Chunks) > 0 {
		r.sessionLength = m.Chunks[len(m.Chunks)-1].Last.Sub(m.Chunks[0].First)
	}
	for _, c := range m.Chunks {
		r.storedTotal += float64(c.Size)
		r.storedWindow += float64(c.Size) * overlap(c.First, c.Last, begin, end)
	}
	r.records, r.rawToClient, r.rawToTarget = countRecords(b, r.saved)
	return r
}

// overlap is the share of [first, last] that falls in [begin, end].
func overlap(first, last, begin, end time.Time) float64 {
	if !last.After(first) {
		if !first.Before(begin) && !first.After(end) {
			return 1
		}
		return 0
	}
	from, to := first, last
	if begin.After(from) {
		from = begin
	}
	if end.Before(to) {
		to = end
	}
	if !to.After(from) {
		return 0
	}
	return float64(to.Sub(from)) / float64(last.Sub(first))
}

// act carries out one step on the client's display.
func act(ctx context.Context, b *testing.B, display string, s step) {
	b.Helper()
	if s.typed != "" {
		xdotool(ctx, b, display, "search", "--sync", "--onlyvisible", "--class", "xfreerdp", "windowfocus", "--sync",
			"type", "--delay", strconv.Itoa(int(keyDelay/time.Millisecond)), "--", s.typed)
		xdotool(ctx, b, display, "key", "Return")
		return
	}
	for _, p := range s.path {
		xdotool(ctx, b, display, "mousemove", strconv.Itoa(p[0]), strconv.Itoa(p[1]))
		time.Sleep(150 * time.Millisecond)
	}
}

func xdotool(ctx context.Context, b *testing.B, display string, args ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("xdotool %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// savedManifest is a recording's manifest and where it was saved.
type savedManifest struct {
	*capture.Manifest
	path string
}

// saveRecording downloads a session's recording (after checking it end to end) into the
// artifacts folder, laid out as in the bucket: manifest.json and the chunk files.
func saveRecording(ctx context.Context, b *testing.B, s3 *s3peer.Peer, session string) savedManifest {
	b.Helper()
	client := s3.Client(b)
	rep, err := storage.Verify(ctx, client, s3.Bucket, recordingPrefix, session)
	if err != nil {
		b.Fatalf("the recording does not verify: %v", err)
	}
	root := os.Getenv("OFFICEBENCH_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "sessionconnector-officebench")
	}
	dir := filepath.Join(root, "office-"+time.Now().UTC().Format("20060102T150405Z")+"-"+session)
	if err := os.MkdirAll(dir, 0o700); err != nil { // recordings hold what was typed: keep them private
		b.Fatal(err)
	}
	keys := []string{storage.ManifestKey(recordingPrefix, session)}
	for _, c := range rep.Manifest.Chunks {
		keys = append(keys, c.Key)
	}
	for _, key := range keys {
		obj, err := client.GetObject(ctx, s3.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, path.Base(key)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(f, obj)
		_ = obj.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatalf("save %s: %v", key, err)
		}
	}
	return savedManifest{Manifest: rep.Manifest, path: filepath.Join(dir, path.Base(keys[0]))}
}

// countRecords reads a saved recording back: its records and PDU bytes each way.
func countRecords(b *testing.B, dir string) (records int, toClient, toTarget int64) {
	b.Helper()
	m, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	manifest, err := capture.ParseManifest(m)
	if err != nil {
		b.Fatal(err)
	}
	var files []io.Reader
	for _, c := range manifest.Chunks {
		f, err := os.Open(filepath.Join(dir, path.Base(c.Key)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	rd, err := capture.NewReader(io.MultiReader(files...))
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return records, toClient, toTarget
		}
		if err != nil {
			b.Fatalf("read the saved recording: %v", err)
		}
		records++
		if rec.Direction == capture.TargetToClient {
			toClient += int64(len(rec.PDU))
		} else {
			toTarget += int64(len(rec.PDU))
		}
	}
}
