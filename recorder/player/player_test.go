package player_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/recorder/player"
	"github.com/sessionconnector/sessionconnector/test/logbuf"
)

func serve(t *testing.T, h http.Handler, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func problem(t *testing.T, resp *http.Response, status int, detail string) {
	t.Helper()
	b := body(t, resp)
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if d, _ := p["detail"].(string); !strings.Contains(d, detail) {
		t.Fatalf("detail %q, want %q", d, detail)
	}
}

// installed makes a player folder with stand-in files.
func installed(t *testing.T) (dir string, wasm []byte) {
	t.Helper()
	dir = t.TempDir()
	wasm = bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00 stand-in "), 4096)
	if err := os.WriteFile(filepath.Join(dir, player.WASMFile), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, player.WASMExecFile), []byte("class Go {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, wasm
}

// TestNotInstalled: without player.wasm the page answers a problem saying so; the embedded
// files are still there.
func TestNotInstalled(t *testing.T) {
	logs := &logbuf.Buffer{}
	for _, dir := range []string{"", t.TempDir()} {
		h, err := player.New(player.Config{Dir: dir, Logger: logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Installed(); err == nil {
			t.Fatalf("Installed() with %q", dir)
		}
		problem(t, serve(t, h, http.MethodGet, "/recordings/s-abc", nil), http.StatusServiceUnavailable, "the recording player is not installed")
		problem(t, serve(t, h, http.MethodGet, "/player/player.wasm", nil), http.StatusServiceUnavailable, "not installed")
		if resp := serve(t, h, http.MethodGet, "/player/player.js", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("player.js: %d", resp.StatusCode)
		}
	}
	if !strings.Contains(logs.String(), "not installed") {
		t.Fatalf("nothing logged: %s", logs.String())
	}
}

// TestServesThePlayer: the page with its security headers, the embedded files with ETags, the
// WebAssembly as application/wasm, gzipped for clients that take it.
func TestServesThePlayer(t *testing.T) {
	dir, wasm := installed(t)
	h, err := player.New(player.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Installed(); err != nil {
		t.Fatal(err)
	}

	resp := serve(t, h, http.MethodGet, "/recordings/s-abc", nil)
	page := string(body(t, resp))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", resp.Header)
	}
	// Every file the page names is served; none is inline.
	refs := regexp.MustCompile(`(?:src|href)="(/player/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 3 {
		t.Fatalf("the page names %v", refs)
	}
	for _, ref := range refs {
		if resp := serve(t, h, http.MethodGet, ref[1], nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", ref[1], resp.StatusCode)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") {
		t.Fatal("inline script or style, which the CSP forbids")
	}

	resp = serve(t, h, http.MethodGet, "/player/player.js", nil)
	if resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("player.js headers %v", resp.Header)
	}
	if again := serve(t, h, http.MethodGet, "/player/player.js", http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", again.StatusCode)
	}

	resp = serve(t, h, http.MethodGet, "/player/player.wasm", nil)
	if b := body(t, resp); resp.Header.Get("Content-Type") != "application/wasm" || !bytes.Equal(b, wasm) {
		t.Fatalf("player.wasm: %s, %d bytes", resp.Header.Get("Content-Type"), len(b))
	}
	resp = serve(t, h, http.MethodGet, "/player/player.wasm", http.Header{"Accept-Encoding": {"br, gzip"}})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/wasm" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzipped player.wasm headers %v", resp.Header)
	}
	zb := body(t, resp)
	zr, err := gzip.NewReader(bytes.NewReader(zb))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, wasm) || len(zb) >= len(wasm)/4 {
		t.Fatalf("gzipped player.wasm: %v, %d bytes from %d", err, len(zb), len(b))
	}
	// A new build is served at once.
	wasm2 := append(bytes.Clone(wasm), "v2"...)
	if err := os.WriteFile(filepath.Join(dir, player.WASMFile), wasm2, 0o644); err != nil {
		t.Fatal(err)
	}
	zr, _ = gzip.NewReader(serve(t, h, http.MethodGet, "/player/player.wasm", http.Header{"Accept-Encoding": {"gzip"}}).Body)
	if b, _ := io.ReadAll(zr); !bytes.Equal(b, wasm2) {
		t.Fatal("the old build is still served")
	}
	if resp := serve(t, h, http.MethodGet, "/player/wasm_exec.js", nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("wasm_exec.js: %d %v", resp.StatusCode, resp.Header)
	}

	problem(t, serve(t, h, http.MethodGet, "/player/index.html", nil), http.StatusNotFound, "no such file")
	problem(t, serve(t, h, http.MethodGet, "/player/..%2f..%2fetc%2fpasswd", nil), http.StatusNotFound, "no such file")
	problem(t, serve(t, h, http.MethodPost, "/recordings/s-abc", nil), http.StatusMethodNotAllowed, "use GET")
}

// TestDefaultDir: DefaultDir names a folder that holds the player, or none.
func TestDefaultDir(t *testing.T) {
	dir := player.DefaultDir()
	if dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(dir, player.WASMFile)); err != nil {
		t.Fatalf("DefaultDir %q without %s", dir, player.WASMFile)
	}
}
