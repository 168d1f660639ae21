// Package player serves the recording player: a web page that plays a session's recording in
// the browser, with a timeline and the keystroke log beside it. The launch API mounts it
// (launch.Config.Player):
//
//	GET /recordings/{session}   the page (static: it holds no data and needs no sign-in)
//	GET /player/{file}          player.js, player.css (embedded), player.wasm and wasm_exec.js
//
// The page signs the user in with their Secret Server credentials against
// GET /api/v1/recordings/{session} (package launch), which answers the recording's chunks as
// short-lived presigned S3 URLs; the browser fetches them from S3 itself and decodes them with
// player.wasm, this repository's Go code compiled to WebAssembly (recorder/player/wasm): no
// transcoding on the server, and the picture is lossless.
//
// player.wasm and wasm_exec.js are build outputs (`make player` writes them to bin/player), not
// part of the binary: Config.Dir names their folder. Without them the page answers 503 with a
// problem saying the player is not installed.
package player

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Files of the player folder (Config.Dir).
const (
	WASMFile     = "player.wasm"
	WASMExecFile = "wasm_exec.js"
)

// SystemDir is where packages and the container image install the player.
const SystemDir = "/usr/share/sessionconnector/player"

//go:embed assets
var embedded embed.FS

// Config of a Handler.
type Config struct {
	// Dir holds player.wasm and wasm_exec.js; "" when the player is not installed.
	Dir    string
	Logger logr.Logger
}

// Handler serves the page and its files.
type Handler struct {
	cfg    Config
	static map[string]asset // embedded files by name

	mu sync.Mutex
	gz map[string]asset // gzipped player files, by name, size and time
}

type asset struct {
	data        []byte
	contentType string
	etag        string
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	h := &Handler{cfg: cfg, static: map[string]asset{}, gz: map[string]asset{}}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"player.js":  "text/javascript; charset=utf-8",
		"player.css": "text/css; charset=utf-8",
	} {
		b, err := fs.ReadFile(embedded, "assets/"+name)
		if err != nil {
			return nil, fmt.Errorf("player: embedded %s: %w", name, err)
		}
		h.static[name] = asset{data: b, contentType: ct, etag: etag(b)}
	}
	if err := h.Installed(); err != nil {
		cfg.Logger.Info("the recording player is not installed: /recordings/ pages answer 503", "reason", err.Error())
	}
	return h, nil
}

// DefaultDir finds an installed player: the folder "player" beside the running binary (what
// `make build` leaves in bin/), else SystemDir. It returns "" when neither holds player.wasm.
func DefaultDir() string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "player"))
	}
	for _, d := range append(dirs, SystemDir) {
		if fi, err := os.Stat(filepath.Join(d, WASMFile)); err == nil && fi.Mode().IsRegular() {
			return d
		}
	}
	return ""
}

// Installed reports why the player cannot be served, or nil.
func (h *Handler) Installed() error {
	if h.cfg.Dir == "" {
		return errors.New("no player folder is configured (--player-dir)")
	}
	for _, name := range []string{WASMFile, WASMExecFile} {
		fi, err := os.Stat(filepath.Join(h.cfg.Dir, name))
		if err != nil {
			return fmt.Errorf("%s is missing from %s: build it with `make player`", name, h.cfg.Dir)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s in %s is not a file", name, h.cfg.Dir)
		}
	}
	return nil
}

// ServeHTTP serves GET /recordings/{session} (the page) and GET /player/{file}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use GET")
		return
	}
	name, isFile := strings.CutPrefix(r.URL.Path, "/player/")
	if !isFile {
		h.servePage(w, r)
		return
	}
	switch name {
	case "player.js", "player.css":
		h.serveAsset(w, r, h.static[name])
	case WASMFile, WASMExecFile:
		h.serveInstalled(w, r, name)
	default:
		writeProblem(w, http.StatusNotFound, "Not found", "the player has no such file")
	}
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	if err := h.Installed(); err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Player not installed",
			"the recording player is not installed on this server: build it with `make player` and start with --player-dir")
		return
	}
	hdr := w.Header()
	// The page runs its own scripts and WebAssembly, and fetches the API and the presigned S3
	// URLs (any storage endpoint); nothing else.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "+
		"img-src 'self' data:; connect-src *; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	h.serveAsset(w, r, h.static["index.html"])
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache") // revalidate with the ETag
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// serveInstalled serves a file of the player folder, gzipped when the client accepts it (the
// WebAssembly shrinks to a third).
func (h *Handler) serveInstalled(w http.ResponseWriter, r *http.Request, name string) {
	if err := h.Installed(); err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Player not installed",
			"the recording player is not installed on this server: build it with `make player` and start with --player-dir")
		return
	}
	file := filepath.Join(h.cfg.Dir, name)
	ct := "text/javascript; charset=utf-8"
	if path.Ext(name) == ".wasm" {
		ct = "application/wasm"
	}
	hdr := w.Header()
	hdr.Set("Vary", "Accept-Encoding")
	hdr.Set("Cache-Control", "no-cache")
	if acceptsGzip(r) {
		a, err := h.gzipped(file, ct)
		if err == nil {
			hdr.Set("Content-Encoding", "gzip")
			h.serveAsset(w, r, a)
			return
		}
		h.cfg.Logger.Error(err, "could not compress a player file", "file", file)
	}
	f, err := os.Open(file)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Player not installed", "the player's files cannot be read")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "Player not installed", "the player's files cannot be read")
		return
	}
	hdr.Set("Content-Type", ct)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// gzipped returns a file compressed, from the cache while the file is unchanged.
func (h *Handler) gzipped(file, contentType string) (asset, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return asset{}, fmt.Errorf("player: %w", err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", file, fi.Size(), fi.ModTime().UnixNano())
	h.mu.Lock()
	defer h.mu.Unlock() // one compression at a time; the others wait for it
	if a, ok := h.gz[key]; ok {
		return a, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return asset{}, fmt.Errorf("player: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return asset{}, fmt.Errorf("player: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return asset{}, fmt.Errorf("player: compress %s: %w", file, err)
	}
	if err := zw.Close(); err != nil {
		return asset{}, fmt.Errorf("player: compress %s: %w", file, err)
	}
	for k := range h.gz {
		if strings.HasPrefix(k, file+"\x00") {
			delete(h.gz, k) // an older build
		}
	}
	tag := etag(data)
	a := asset{data: buf.Bytes(), contentType: contentType, etag: strings.TrimSuffix(tag, `"`) + `-gz"`}
	h.gz[key] = a
	return a, nil
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}
