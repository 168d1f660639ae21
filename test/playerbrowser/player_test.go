package playerbrowser_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/keylog"
	"github.com/sessionconnector/sessionconnector/recorder/player"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/standalone"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/test/logbuf"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/ticket"
)

const (
	alicePassword     = "Player-Alice-Pass-7"
	bobPassword       = "Player-Bob-Pass-7"
	connectorPassword = "Player-Connector-Pass-7"
	targetPassword    = "Player-Target-Pass-7"

	desktopW, desktopH = 320, 200
	typed              = "hello player"
	secretID           = 42
)

var (
	// The desktop before and after the user typed; after is the xrdp desktop's colour.
	colourBefore = color.RGBA{0xCC, 0x33, 0x00, 0xFF}
	colourAfter  = color.RGBA{0x33, 0x66, 0x99, 0xFF}
)

// chromium returns the browser's path, or skips (fails when peers are required).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found; install it with: apt-get install -y --no-install-recommends chromium (or set SC_CHROMIUM)"
	if peers.Required() {
		t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
	}
	t.Skip(msg)
	return ""
}

// buildPlayer builds what `make player` builds into a temporary folder, unless SC_PLAYER_DIR
// names a folder that has it (bin/player after `make player`).
func buildPlayer(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("SC_PLAYER_DIR"); dir != "" {
		return dir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the player: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(dir, player.WASMFile),
		"github.com/sessionconnector/sessionconnector/recorder/player/wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the player: %v\n%s", err, out)
	}
	goroot, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", player.WASMExecFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, player.WASMExecFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// world is standalone mode recording to MinIO, the Secret Server emulator and a fake target.
type world struct {
	t      *testing.T
	logs   *logbuf.Buffer
	s3     *s3peer.Peer
	srv    *standalone.Server
	client *http.Client
}

func startWorld(t *testing.T, s3 *s3peer.Peer, playerDir string) *world {
	t.Helper()
	w := &world{t: t, logs: &logbuf.Buffer{}, s3: s3}
	log := w.logs.Logger()
	target := fakerdp.StartTarget(t, fakerdp.TargetOptions{Password: targetPassword})
	ss := emulatortest.Start(t, fmt.Sprintf(`
users:
  - {username: alice, password: %s}
  - {username: bob, password: %s}
  - {username: connector, password: %s, applicationAccount: true}
secrets:
  - {id: %d, name: fake target, template: Windows Account,
     fields: {machine: %q, username: player, password: %s}, viewers: [alice, connector]}
`, alicePassword, bobPassword, connectorPassword, secretID, target.Addr, targetPassword), emulator.Options{Logger: log.WithName("emulator")})

	config := t.TempDir()
	manifests := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {username: connector, password: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: s3}
stringData: {accessKeyId: %q, secretAccessKey: %q}
---
apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: lab}
spec:
  recordingStorage: {endpoint: %q, bucket: %q, prefix: recordings, credentialsSecretRef: {name: s3}}
  targetTLS: {pinnedSHA256: [%q]}
  secretServer:
    url: %s
    applicationAccountSecretRef: {name: app}
    caBundle: |
%s
---
apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: rdp}
spec: {clusterRef: lab, templates: [{name: Windows Account}], recordKeystrokes: true}
`, connectorPassword, s3.AccessKey, s3.SecretKey, "http://"+s3.Endpoint, s3.Bucket, target.CertSHA256(), ss.URL,
		"      "+strings.ReplaceAll(strings.TrimSpace(string(ss.CAPEM)), "\n", "\n      "))
	if err := os.WriteFile(filepath.Join(config, "all.yaml"), []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	w.srv, err = standalone.Start(standalone.Options{ConfigDir: config, StateDir: t.TempDir(),
		APIListen: "127.0.0.1:0", RDPListen: "127.0.0.1:0", ShutdownGrace: time.Second,
		PlayerDir: playerDir, Logger: log.WithName("standalone")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.srv.Close()
		w.checkLogs()
	})
	ca, err := os.ReadFile(w.srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	w.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	t.Cleanup(w.client.CloseIdleConnections)
	return w
}

// checkLogs fails when a password, a secret key or a presigned URL reached the logs.
func (w *world) checkLogs() {
	logs := w.logs.String()
	for _, s := range []string{alicePassword, bobPassword, connectorPassword, targetPassword, w.s3.SecretKey, "X-Amz-Signature", "X-Amz-Credential"} {
		if strings.Contains(logs, s) {
			w.t.Errorf("the logs hold a secret (%d characters) or a presigned URL", len(s))
		}
	}
}

// launch asks the launch API for a session as alice and returns its ticket.
func (w *world) launch() ticket.Ticket {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.srv.APIURL+"/api/v1/launches", strings.NewReader(fmt.Sprintf(`{"secretId": %d, "launcher": "rdp"}`, secretID)))
	if err != nil {
		w.t.Fatal(err)
	}
	req.SetBasicAuth("alice", alicePassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("launch: %d %s", resp.StatusCode, body)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbalanceinfo:s:"); ok {
			tk, err := ticket.Parse(v)
			if err != nil {
				w.t.Fatal(err)
			}
			return tk
		}
	}
	w.t.Fatalf("no ticket in the .rdp file:\n%s", body)
	return ticket.Ticket{}
}

// pointerHidden is the target's slow-path system pointer PDU that hides the pointer.
func pointerHidden() ([]byte, error) {
	p := &pdu.SharePDU{
		Control: pdu.ShareControlHeader{PDUType: pdu.ProtocolVersion | uint16(pdu.PDUTypeData), PDUSource: fakerdp.IOChannel - 1},
		Data:    &pdu.ShareDataHeader{ShareID: 0x103EA, StreamID: 1, PDUType2: pdu.PDUType2Pointer},
		Payload: []byte{0x01, 0, 0, 0, 0, 0, 0, 0}, // TS_PTRMSGTYPE_SYSTEM, SYSPTR_NULL
	}
	b, err := p.Append(nil)
	if err != nil {
		return nil, err
	}
	return (&mcs.SendDataIndication{SendData: mcs.SendData{Initiator: fakerdp.IOChannel - 1, ChannelID: fakerdp.IOChannel,
		Segmentation: mcs.SegmentationWhole, Data: b}}).Marshal()
}

// desktop returns the target's PDUs that size the desktop (first) and paint it in c.
func desktop(t *testing.T, c color.RGBA, demandActive bool) [][]byte {
	t.Helper()
	s := replaytest.New(time.Now())
	if demandActive {
		if err := s.DemandActive(desktopW, desktopH, 32); err != nil {
			t.Fatal(err)
		}
	}
	r, err := replaytest.Rect(replaytest.Solid(desktopW, desktopH, c), 0, 0, 32, replaytest.Planar)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SlowPathBitmap(r); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, rec := range s.Records {
		out = append(out, rec.PDU)
	}
	return out
}

// keystrokes are the client's fast-path key presses and releases that type text (lower case
// letters and spaces) and Enter.
func keystrokes(t *testing.T, text string) [][]byte {
	t.Helper()
	scancodes := map[rune]uint16{' ': 0x39, 'a': 0x1E, 'e': 0x12, 'h': 0x23, 'l': 0x26, 'o': 0x18, 'p': 0x19, 'r': 0x13, 'y': 0x15, '\n': 0x1C}
	var out [][]byte
	for _, r := range text + "\n" {
		sc, ok := scancodes[r]
		if !ok {
			t.Fatalf("no scancode for %q", r)
		}
		b, err := input.MarshalFastPath([]input.Event{
			{Source: input.FastPath, Kind: input.KindScancode, Scancode: sc},
			{Source: input.FastPath, Kind: input.KindScancode, Scancode: sc, Released: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// record runs a session through the proxy to the fake target, which echoes what the client
// sends: so the client plays the target's part too, and the recording holds a desktop painted
// colourBefore, the user typing, then the desktop painted colourAfter.
func (w *world) record(tk ticket.Ticket) *capture.Manifest {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := fakerdp.Dial(ctx, w.srv.RDPAddr, tk.Text(), fakerdp.ClientOptions{})
	if err != nil {
		w.t.Fatalf("connect through the proxy: %v\n%s", err, w.logs.String())
	}
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		for {
			if _, err := c.Recv(); err != nil {
				return
			}
		}
	}()
	send := func(pdus ...[]byte) {
		w.t.Helper()
		for _, b := range pdus {
			if err := c.Send(b); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	hide, err := pointerHidden()
	if err != nil {
		w.t.Fatal(err)
	}
	send(desktop(w.t, colourBefore, true)...)
	send(hide)
	time.Sleep(time.Second)
	send(keystrokes(w.t, typed)...)
	time.Sleep(time.Second)
	send(desktop(w.t, colourAfter, false)...)
	time.Sleep(500 * time.Millisecond)
	_ = c.Close()
	<-echoed

	var s *v1alpha1.Session
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		s, err = w.srv.Store.Get(ctx, tk.ID)
		if err == nil && s.Status.Phase == v1alpha1.SessionEnded && s.Status.Recording != nil {
			break
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the session never ended with a recording: %+v\n%s", s, w.logs.String())
		}
	}
	if !s.Status.Recording.Complete {
		w.t.Fatalf("recording %+v", s.Status.Recording)
	}
	rep, err := storage.Verify(ctx, w.s3.Client(w.t), w.s3.Bucket, "recordings", tk.ID)
	if err != nil {
		w.t.Fatalf("the recording does not verify: %v", err)
	}
	return rep.Manifest
}

// typedAt reads the keystroke log and returns when the text was typed, from the start.
func (w *world) typedAt(m *capture.Manifest) time.Duration {
	w.t.Helper()
	obj, err := w.s3.Client(w.t).GetObject(context.Background(), w.s3.Bucket, "recordings/"+m.Session+"/"+storage.KeystrokesName, minio.GetObjectOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	defer obj.Close()
	entries, err := keylog.Parse(obj)
	if err != nil {
		w.t.Fatalf("keystroke log: %v", err)
	}
	for _, e := range entries {
		if e.Text == typed {
			return e.Time.Sub(m.Start)
		}
	}
	w.t.Fatalf("the keystroke log %+v lacks %q", entries, typed)
	return 0
}

// browser starts headless Chromium; its console goes to the returned buffer.
func browser(t *testing.T, path string) (context.Context, *console) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true), // the launch API's certificate is self-signed
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	con := &console{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			con.add(m.String())
		}
	}()
	return ctx, con
}

type console struct {
	mu    sync.Mutex
	lines []string
}

func (c *console) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, s)
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// page drives the player page.
type page struct {
	t   *testing.T
	ctx context.Context
	con *console
	w   *world
}

func (p *page) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify({state: document.getElementById('player').dataset.state,
		error: document.getElementById('error').textContent, status: document.getElementById('status').textContent,
		warnings: document.getElementById('warnings').textContent})`))
	p.t.Fatalf("%s: %v\npage: %s\nconsole:\n%s\nserver logs:\n%s", what, err, state, p.con, p.w.logs.String())
}

func eval[T any](p *page, expression string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		p.fail("evaluate "+expression, err)
	}
	return v
}

func (p *page) signIn(user, password string) {
	p.t.Helper()
	p.do("sign in as "+user, 30*time.Second,
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('user').value = ''; document.getElementById('password').value = ''`),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin-button")),
	)
}

// signInRefused signs in and returns the error the page shows.
func (p *page) signInRefused(user, password string) string {
	p.t.Helper()
	_ = eval[bool](p, `(document.getElementById('error').textContent = '', document.getElementById('error').hidden = true, true)`)
	p.signIn(user, password)
	p.do("wait for the error", 30*time.Second, chromedp.Poll[chromedp.Void](`!document.getElementById('error').hidden`))
	if !eval[bool](p, `document.getElementById('player').hidden`) {
		p.fail("sign-in refused", errors.New("the player shows"))
	}
	return eval[string](p, `document.getElementById('error').textContent`)
}

// seek moves the timeline to ms as a user dragging it does, and waits for the picture.
func (p *page) seek(ms int64) {
	p.t.Helper()
	_ = eval[bool](p, fmt.Sprintf(`(() => { const tl = document.getElementById('timeline'); tl.value = '%d';
		tl.dispatchEvent(new Event('input')); tl.dispatchEvent(new Event('change')); return true })()`, ms))
	p.waitPosition(ms)
}

func (p *page) waitPosition(ms int64) {
	p.t.Helper()
	p.do(fmt.Sprintf("wait for the picture at %d ms", ms), 60*time.Second,
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById('screen').dataset.position === '%d'`, ms)))
}

// wrongPixels counts the canvas's pixels that are not c.
func (p *page) wrongPixels(c color.RGBA) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`(() => {
		const cv = document.getElementById('screen');
		const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
		let wrong = 0;
		for (let i = 0; i < d.length; i += 4) {
			if (d[i] !== %d || d[i+1] !== %d || d[i+2] !== %d || d[i+3] !== 255) wrong++;
		}
		return wrong;
	})()`, c.R, c.G, c.B))
}

func (p *page) pixel(x, y int) [4]int {
	p.t.Helper()
	return eval[[4]int](p, fmt.Sprintf(`Array.from(document.getElementById('screen').getContext('2d').getImageData(%d, %d, 1, 1).data)`, x, y))
}

// resources lists the URLs the page fetched.
func (p *page) resources() []string {
	p.t.Helper()
	return eval[[]string](p, `performance.getEntriesByType('resource').map(e => e.name)`)
}

// TestPlayerInChromium: a session recorded through the proxy plays in headless Chromium from
// the launch API's page: a wrong password and a user who may not view the secret get an error
// and no URL; the secret's viewer gets the recording, whose last picture is the desktop's
// colour pixel for pixel, whose keystroke log shows what was typed and moves the timeline
// there (where the picture is the earlier colour), and whose duration is the manifest's.
func TestPlayerInChromium(t *testing.T) {
	if testing.Short() && !peers.Required() {
		t.Skip("end-to-end test in a browser; skipped in -short mode")
	}
	chromiumPath := chromium(t)
	s3 := s3peer.Start(t)
	w := startWorld(t, s3, buildPlayer(t))
	tk := w.launch()
	m := w.record(tk)
	durationMs := (m.End.Sub(m.Start) + time.Millisecond - 1).Milliseconds() // rounded up
	typedMs := w.typedAt(m).Milliseconds()
	t.Logf("recording: %d chunks, %d ms; %q typed at %d ms", len(m.Chunks), durationMs, typed, typedMs)
	if durationMs < 2000 || typedMs < 500 || typedMs > durationMs-1000 {
		t.Fatalf("recording of %d ms with the typing at %d ms", durationMs, typedMs)
	}

	ctx, con := browser(t, chromiumPath)
	p := &page{t: t, ctx: ctx, con: con, w: w}
	pageURL := w.srv.APIURL + "/recordings/" + url.PathEscape(tk.ID)
	p.do("open the page", 30*time.Second, chromedp.Navigate(pageURL))

	// A wrong password, then a user who may not view the secret: an error, and no recording.
	if msg := p.signInRefused("alice", "not-the-password"); !strings.Contains(msg, "Secret Server refused the credentials") {
		t.Fatalf("wrong password: the page says %q", msg)
	}
	if msg := p.signInRefused("bob", bobPassword); !strings.Contains(msg, fmt.Sprintf("secret %d does not exist or you may not view it", secretID)) {
		t.Fatalf("bob: the page says %q", msg)
	}
	for _, u := range p.resources() {
		if strings.Contains(u, s3.Endpoint) || strings.Contains(u, "X-Amz-") {
			t.Fatalf("the page fetched %s without being authorised", u)
		}
	}

	// The secret's viewer plays it.
	p.signIn("alice", alicePassword)
	p.do("wait for the player", 90*time.Second,
		chromedp.Poll[chromedp.Void](`['ready', 'error'].includes(document.getElementById('player').dataset.state)`, chromedp.WithPollingTimeout(90*time.Second)))
	if state := eval[string](p, `document.getElementById('player').dataset.state`); state != "ready" {
		p.fail("load the recording", fmt.Errorf("state %q", state))
	}
	if got := eval[string](p, `document.getElementById('password').value`); got != "" {
		t.Fatal("the password stays in the form after sign-in")
	}
	if got := eval[string](p, `document.getElementById('timeline').max`); got != fmt.Sprint(durationMs) {
		t.Fatalf("timeline of %s ms, the recording lasts %d ms", got, durationMs)
	}
	wantTime := fmt.Sprintf("0:00 / 0:%02d", durationMs/1000)
	if got := eval[string](p, `document.getElementById('time').textContent`); got != wantTime {
		t.Fatalf("time display %q, want %q", got, wantTime)
	}
	if got := eval[string](p, `document.getElementById('meta-user').textContent + ' ' + document.getElementById('meta-secret').textContent`); got != fmt.Sprintf("alice %d", secretID) {
		t.Fatalf("recording metadata %q", got)
	}

	// The end: the desktop as last painted, every pixel.
	p.seek(durationMs)
	if w, h := eval[int](p, `document.getElementById('screen').width`), eval[int](p, `document.getElementById('screen').height`); w != desktopW || h != desktopH {
		t.Fatalf("canvas %dx%d, want %dx%d", w, h, desktopW, desktopH)
	}
	if px := p.pixel(desktopW/2, desktopH/2); px != [4]int{int(colourAfter.R), int(colourAfter.G), int(colourAfter.B), 255} {
		t.Fatalf("pixel at the centre at the end is %v, want %v", px, colourAfter)
	}
	if n := p.wrongPixels(colourAfter); n != 0 {
		t.Fatalf("%d pixels at the end are not %v", n, colourAfter)
	}
	if want := fmt.Sprintf("0:%02d / 0:%02d", durationMs/1000, durationMs/1000); eval[string](p, `document.getElementById('time').textContent`) != want {
		t.Fatalf("time display at the end %q, want %q", eval[string](p, `document.getElementById('time').textContent`), want)
	}

	// The keystroke log shows what was typed; clicking it moves the timeline there, where the
	// desktop had its first colour (a seek backwards).
	var entries []struct {
		MS   string `json:"ms"`
		Text string `json:"text"`
	}
	raw := eval[string](p, `JSON.stringify(Array.from(document.querySelectorAll('#keys button')).map(b => ({ms: b.dataset.ms, text: b.querySelector('span').textContent})))`)
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Text != typed || entries[0].MS != fmt.Sprint(typedMs) || entries[1].Text != "<Enter>" {
		t.Fatalf("keystroke log on the page: %+v", entries)
	}
	p.do("click the typed text", 30*time.Second, chromedp.Click(chromedp.CSS("#keys li:first-child button")))
	p.waitPosition(typedMs)
	if got := eval[string](p, `document.getElementById('timeline').value`); got != fmt.Sprint(typedMs) {
		t.Fatalf("timeline at %s ms after clicking the entry at %d ms", got, typedMs)
	}
	if n := p.wrongPixels(colourBefore); n != 0 {
		t.Fatalf("%d pixels at %d ms are not %v", n, typedMs, colourBefore)
	}
	if got := eval[string](p, `(document.querySelector('#keys li.current button') || {dataset: {}}).dataset.ms || ''`); got != fmt.Sprint(typedMs) {
		t.Fatalf("the entry highlighted at %d ms is the one at %q ms", typedMs, got)
	}

	// Play at 8×: the timeline runs to the end and stops there.
	p.do("play", 30*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('speed').value = '8'; document.getElementById('speed').dispatchEvent(new Event('change'))`),
		chromedp.Click(chromedp.ID("play")),
	)
	p.waitPosition(durationMs)
	p.do("wait for the end", 30*time.Second, chromedp.Poll[chromedp.Void](`document.getElementById('play').textContent === 'Play'`))
	if n := p.wrongPixels(colourAfter); n != 0 {
		t.Fatalf("%d pixels after playing to the end are not %v", n, colourAfter)
	}
	if warnings := eval[string](p, `document.getElementById('warnings').textContent`); warnings != "" {
		t.Fatalf("the player warns: %s", warnings)
	}

	// What the browser fetched: the page, the player, the API, and the recording's objects
	// straight from S3.
	var chunks, keys int
	for _, u := range p.resources() {
		switch {
		case strings.HasPrefix(u, "http://"+s3.Endpoint+"/") && strings.Contains(u, "/chunk-"):
			chunks++
		case strings.HasPrefix(u, "http://"+s3.Endpoint+"/") && strings.Contains(u, "/"+storage.KeystrokesName):
			keys++
		}
	}
	if chunks < len(m.Chunks) || keys != 1 {
		t.Fatalf("the browser fetched %d chunk objects (of %d) and %d keystroke logs from S3", chunks, len(m.Chunks), keys)
	}
}
