// Package storage streams recordings (recorder/capture chunks) to S3-compatible storage
// through a local spool: each chunk is written and fsynced to the spool, uploaded as
// <prefix>/<session>/chunk-NNNNNN.zst, then removed. While S3 is unreachable, uploads are
// retried with backoff and chunks stay spooled; after a crash, Recover uploads what a previous
// process left and ends such recordings with an interrupted manifest. Credentials are never
// logged.
package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
)

const (
	metaFile     = "meta.json"
	journalFile  = "journal.jsonl"
	manifestName = "manifest.json"
)

var sessionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ChunkKey returns the object name of chunk seq of a session.
func ChunkKey(prefix, session string, seq uint32) string {
	return path.Join(prefix, session, chunkFile(seq))
}

// ManifestKey returns the object name of a session's manifest.
func ManifestKey(prefix, session string) string { return path.Join(prefix, session, manifestName) }

// Config of a Store.
type Config struct {
	Client   *minio.Client
	Bucket   string
	Prefix   string
	SpoolDir string
	// MinBackoff and MaxBackoff bound the wait between upload attempts (defaults 200ms, 10s).
	MinBackoff, MaxBackoff time.Duration
	// Budget, when set, bounds the bytes of chunks waiting in the spool (shared by every Store
	// of a process): a recording that would pass it fails with ErrSpoolFull, and no recording
	// begins while it is spent.
	Budget *Budget
	Log    logr.Logger
}

// ErrSpoolFull is returned when the spool budget is spent: S3 has been away too long.
var ErrSpoolFull = errors.New("storage: spool full")

// Budget is a byte limit shared by the Stores of a process. Its methods are safe for
// concurrent use.
type Budget struct {
	limit int64
	mu    sync.Mutex
	used  int64
	// spent is set when a chunk did not fit, and cleared once the spool has drained below
	// 90 % of the limit, so that new recordings do not start only to fail at once.
	spent bool
}

// NewBudget returns a Budget of limit bytes; limit <= 0 means no limit.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used returns the bytes in use.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// take reserves n bytes; force reserves them even past the limit (chunks already spooled).
func (b *Budget) take(n int64, force bool) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !force && b.limit > 0 && b.used+n > b.limit {
		b.spent = true
		return fmt.Errorf("%w: %d of %d bytes waiting for S3, a chunk of %d more does not fit", ErrSpoolFull, b.used, b.limit, n)
	}
	b.used += n
	return nil
}

func (b *Budget) release(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used = max(0, b.used-n)
	if b.used <= b.limit/10*9 {
		b.spent = false
	}
}

// full reports whether no recording should begin.
func (b *Budget) full() bool {
	if b == nil || b.limit <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent || b.used >= b.limit
}

// Store writes recordings.
type Store struct{ cfg Config }

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil || cfg.Bucket == "" || cfg.SpoolDir == "" {
		return nil, errors.New("storage: client, bucket and spool folder are required")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: spool folder: %w", err)
	}
	// Chunks a previous process left count against the budget until uploaded.
	left, _ := filepath.Glob(filepath.Join(cfg.SpoolDir, "*", "chunk-*.zst"))
	for _, f := range left {
		if fi, err := os.Stat(f); err == nil {
			_ = cfg.Budget.take(fi.Size(), true)
		}
	}
	return &Store{cfg: cfg}, nil
}

// Recording is one session being recorded. Write, Flush and Close must not be called
// concurrently.
type Recording struct {
	s    *Store
	meta capture.Meta
	dir  string
	w    *capture.Writer

	queue    chan capture.ChunkInfo
	stop     context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	uploaded int
	dropped  []capture.Dropped
}

// Begin starts the recording of a session. ctx bounds its uploads: cancelling it abandons
// the recording as a crash would (Recover picks it up).
func (s *Store) Begin(ctx context.Context, meta capture.Meta) (*Recording, error) {
	if !sessionRE.MatchString(meta.Session) {
		return nil, fmt.Errorf("storage: invalid session id %q", meta.Session)
	}
	if s.cfg.Budget.full() {
		return nil, fmt.Errorf("%w: %d bytes wait for S3", ErrSpoolFull, s.cfg.Budget.Used())
	}
	dir := filepath.Join(s.cfg.SpoolDir, meta.Session)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: spool %s: %w", meta.Session, err)
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("storage: encode meta: %w", err)
	}
	if err := writeFileSync(filepath.Join(dir, metaFile), b); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Recording{s: s, meta: meta, dir: dir, queue: make(chan capture.ChunkInfo, 1<<16), stop: cancel, done: make(chan struct{})}
	if r.w, err = capture.NewWriter(r); err != nil {
		cancel()
		return nil, err
	}
	go r.upload(ctx)
	return r, nil
}

// Write adds a record.
func (r *Recording) Write(rec capture.Record) error { return r.w.Write(rec) }

// Flush ends the current chunk: it is durable in the spool when Flush returns, and uploaded
// in the background.
func (r *Recording) Flush() error { return r.w.Flush() }

// WriteChunk implements capture.Sink: spool the chunk durably, journal it, queue its upload.
func (r *Recording) WriteChunk(c capture.Chunk) error {
	if err := r.s.cfg.Budget.take(int64(len(c.Data)), false); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(r.dir, chunkFile(c.Info.Seq)), c.Data); err != nil {
		r.s.cfg.Budget.release(int64(len(c.Data)))
		return err
	}
	line, err := json.Marshal(capture.ManifestChunkOf(c.Info, ChunkKey(r.s.cfg.Prefix, r.meta.Session, c.Info.Seq)))
	if err != nil {
		return fmt.Errorf("storage: journal: %w", err)
	}
	if err := appendSync(filepath.Join(r.dir, journalFile), append(line, '\n')); err != nil {
		return err
	}
	select {
	case r.queue <- c.Info:
	default:
		return errors.New("storage: upload queue full")
	}
	return nil
}

func chunkFile(seq uint32) string { return fmt.Sprintf("chunk-%06d.zst", seq) }

func (r *Recording) upload(ctx context.Context) {
	defer close(r.done)
	for info := range r.queue {
		if err := r.s.uploadSpooled(ctx, r.dir, r.meta.Session, info.Seq); err != nil {
			return // ctx cancelled: the chunk stays spooled for Recover
		}
		r.mu.Lock()
		r.uploaded++
		r.mu.Unlock()
	}
}

// uploadSpooled uploads a spooled chunk, retrying with backoff until it succeeds or ctx ends,
// then removes it from the spool.
func (s *Store) uploadSpooled(ctx context.Context, dir, session string, seq uint32) error {
	file := filepath.Join(dir, chunkFile(seq))
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("storage: read spooled chunk %d: %w", seq, err)
	}
	if err := s.putRetry(ctx, ChunkKey(s.cfg.Prefix, session, seq), data); err != nil {
		return err
	}
	if err := os.Remove(file); err != nil {
		return fmt.Errorf("storage: unspool chunk %d: %w", seq, err)
	}
	s.cfg.Budget.release(int64(len(data)))
	return nil
}

func (s *Store) putRetry(ctx context.Context, key string, data []byte) error {
	wait := s.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		_, err := s.cfg.Client.PutObject(ctx, s.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		if err == nil {
			return nil
		}
		s.cfg.Log.V(1).Info("upload failed, retrying", "key", key, "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage: upload %s: %w", key, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// KeystrokesName is the object, beside the manifest, that holds a session's keystroke log.
const KeystrokesName = "keystrokes.jsonl"

// PutKeystrokes stores a session's keystroke log (recorder/keylog's JSON Lines) beside its
// recording, retrying while S3 is away.
func (r *Recording) PutKeystrokes(ctx context.Context, log []byte) error {
	return r.s.PutKeystrokes(ctx, r.meta.Session, log)
}

// PutKeystrokes stores the keystroke log of a session recorded earlier (one recovered from the
// spool, say), retrying while S3 is away.
func (s *Store) PutKeystrokes(ctx context.Context, session string, log []byte) error {
	if !sessionRE.MatchString(session) {
		return fmt.Errorf("storage: invalid session id %q", session)
	}
	return s.putRetry(ctx, path.Join(s.cfg.Prefix, session, KeystrokesName), log)
}

// Open reads a stored recording of this Store's bucket and prefix (see OpenRecording).
func (s *Store) Open(ctx context.Context, session string) (*capture.Reader, error) {
	return OpenRecording(ctx, s.cfg.Client, s.cfg.Bucket, s.cfg.Prefix, session)
}

// SetDropped records in the manifest the PDUs a best-effort recorder left out; call it before
// Close.
func (r *Recording) SetDropped(d []capture.Dropped) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped = append([]capture.Dropped(nil), d...)
}

// Close ends the recording: it flushes the last chunk, waits (up to ctx) until every chunk is
// uploaded, uploads a complete manifest and clears the spool. On error the recording stays
// spooled for Recover.
func (r *Recording) Close(ctx context.Context) (*capture.Manifest, error) {
	defer r.stop()
	werr := r.w.Close()
	close(r.queue)
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("storage: wait for uploads: %w", ctx.Err())
	}
	if werr != nil {
		return nil, werr
	}
	if n, want := r.uploadedCount(), len(r.w.Chunks()); n != want {
		return nil, fmt.Errorf("storage: %d of %d chunks uploaded", n, want)
	}
	r.mu.Lock()
	dropped := r.dropped
	r.mu.Unlock()
	m := &capture.Manifest{Version: capture.ManifestVersion, Meta: r.meta, End: r.meta.Start, Complete: true,
		Chunks: []capture.ManifestChunk{}, Dropped: dropped}
	for _, c := range r.w.Chunks() {
		m.Chunks = append(m.Chunks, capture.ManifestChunkOf(c, ChunkKey(r.s.cfg.Prefix, r.meta.Session, c.Seq)))
		m.End = c.Last
	}
	if err := r.s.finish(ctx, r.dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *Recording) uploadedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploaded
}

func (s *Store) finish(ctx context.Context, dir string, m *capture.Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := s.putRetry(ctx, ManifestKey(s.cfg.Prefix, m.Session), b); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("storage: clear spool: %w", err)
	}
	return nil
}

// Recover uploads the recordings a previous process left in the spool and ends each with an
// interrupted manifest. It returns the sessions it recovered. Run it at start-up, before
// Begin.
func (s *Store) Recover(ctx context.Context) ([]string, error) {
	left, err := s.Leftovers()
	if err != nil {
		return nil, err
	}
	return s.RecoverSessions(ctx, left)
}

// Leftovers lists the sessions whose recordings are in the spool. Taken before this process
// begins any recording, it is exactly what a previous process left.
func (s *Store) Leftovers() ([]string, error) {
	entries, err := os.ReadDir(s.cfg.SpoolDir)
	if err != nil {
		return nil, fmt.Errorf("storage: read spool: %w", err)
	}
	var sessions []string
	for _, e := range entries {
		if e.IsDir() && sessionRE.MatchString(e.Name()) {
			sessions = append(sessions, e.Name())
		}
	}
	return sessions, nil
}

// RecoverSessions uploads the spooled recordings of sessions (from Leftovers) with interrupted
// manifests. One that cannot be recovered does not stop the others; it stays in the spool.
func (s *Store) RecoverSessions(ctx context.Context, sessions []string) ([]string, error) {
	var done []string
	var errs []error
	for _, name := range sessions {
		if err := s.recoverOne(ctx, filepath.Join(s.cfg.SpoolDir, name)); err != nil {
			errs = append(errs, fmt.Errorf("storage: recover %s: %w", name, err))
			continue
		}
		done = append(done, name)
	}
	return done, errors.Join(errs...)
}

func (s *Store) recoverOne(ctx context.Context, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	var meta capture.Meta
	if err := json.Unmarshal(b, &meta); err != nil || meta.Session != filepath.Base(dir) {
		return fmt.Errorf("bad meta: %v", err)
	}
	chunks := map[uint32]capture.ManifestChunk{}
	if j, err := os.Open(filepath.Join(dir, journalFile)); err == nil {
		sc := bufio.NewScanner(j)
		for sc.Scan() {
			var c capture.ManifestChunk
			if json.Unmarshal(sc.Bytes(), &c) == nil && c.Seq > 0 { // a torn last line is skipped
				chunks[c.Seq] = c
			}
		}
		_ = j.Close()
	}
	// Spooled chunks missing from the journal (a crash between the two writes) are described
	// by their own headers.
	files, _ := filepath.Glob(filepath.Join(dir, "chunk-*.zst"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read spooled chunk: %w", err)
		}
		info, err := capture.ParseChunkHeader(data)
		if err != nil || filepath.Base(f) != chunkFile(info.Seq) {
			s.cfg.Log.Info("dropping damaged spooled chunk", "session", meta.Session, "file", filepath.Base(f))
			_ = os.Remove(f)
			s.cfg.Budget.release(int64(len(data)))
			continue
		}
		chunks[info.Seq] = capture.ManifestChunkOf(info, ChunkKey(s.cfg.Prefix, meta.Session, info.Seq))
		if err := s.uploadSpooled(ctx, dir, meta.Session, info.Seq); err != nil {
			return err
		}
	}
	m := &capture.Manifest{Version: capture.ManifestVersion, Meta: meta, End: meta.Start, Chunks: []capture.ManifestChunk{}}
	seqs := make([]uint32, 0, len(chunks))
	for seq := range chunks {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	var next uint32 = 1
	for _, seq := range seqs {
		c := chunks[seq]
		if _, err := s.cfg.Client.StatObject(ctx, s.cfg.Bucket, c.Key, minio.StatObjectOptions{}); err != nil {
			continue // journalled but in neither the spool nor S3: part of the next gap
		}
		if seq > next {
			m.Gaps = append(m.Gaps, capture.Gap{FromSeq: next, ToSeq: seq - 1, Reason: "chunks lost"})
		}
		m.Chunks = append(m.Chunks, c)
		m.End, next = c.Last, seq+1
	}
	if n := len(seqs); n > 0 && seqs[n-1] >= next {
		m.Gaps = append(m.Gaps, capture.Gap{FromSeq: next, ToSeq: seqs[n-1], Reason: "chunks lost"})
	}
	return s.finish(ctx, dir, m)
}
