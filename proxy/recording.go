package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/keylog"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/catalog"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
)

// Session status reason the recorder writes.
const ReasonRecordingUnavailable = "RecordingUnavailable"

const (
	// DefaultRecordingFlushInterval is Config.RecordingFlushInterval's default.
	DefaultRecordingFlushInterval = 2 * time.Second
	// tapQueue is how many PDUs may wait for the recorder before the relay notices.
	tapQueue = 4096
	// tapQueueBytes bounds the bytes of those PDUs: the memory a recorded session may hold
	// while its recorder catches up (a full 1280x800 redraw in 32 bpp is 4 MiB).
	tapQueueBytes = 8 << 20
	// dropRunGap joins drops less than this apart into one run of the manifest's dropped list.
	dropRunGap = time.Second
	// maxDropRuns bounds that list; later drops extend the last run.
	maxDropRuns = 1024
)

// recorders keeps one storage.Store per recording destination of a cluster.
type recorders struct {
	spool  string
	budget *storage.Budget // shared by every Store
	log    logr.Logger
	ctx    context.Context // uploads outlive connections; cancelled when the proxy stops

	mu     sync.Mutex
	stores map[string]*storage.Store
}

// storeFor returns the Store of a cluster's recordingStorage, recovering what a previous process
// left in its spool the first time.
func (r *recorders) storeFor(ctx context.Context, cat catalog.Catalog, cluster *v1alpha1.RDSCluster) (*storage.Store, error) {
	rs := cluster.Spec.RecordingStorage
	if r.spool == "" {
		return nil, errors.New("this proxy has no spool folder for recordings")
	}
	account, ok := cat.(catalog.RecordingAccount)
	if !ok {
		return nil, errors.New("the catalog cannot read recording credentials")
	}
	access, secret, err := account.RecordingCredentials(ctx, cluster)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(rs.Endpoint + "\x00" + rs.Bucket + "\x00" + rs.Prefix + "\x00" + access + "\x00" + secret + "\x00" + rs.CABundle))
	key := hex.EncodeToString(sum[:8])
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stores[key]; ok {
		return s, nil
	}
	client, err := storage.NewClient(storage.Endpoint{URL: rs.Endpoint, Region: rs.Region, CABundle: rs.CABundle,
		AccessKeyID: access, SecretAccessKey: secret})
	if err != nil {
		return nil, err
	}
	s, err := storage.New(storage.Config{Client: client, Bucket: rs.Bucket, Prefix: rs.Prefix,
		SpoolDir: filepath.Join(r.spool, key), Budget: r.budget, Log: r.log})
	if err != nil {
		return nil, err
	}
	// What a previous process left, listed before this one begins a recording there.
	left, err := s.Leftovers()
	if err != nil {
		return nil, err
	}
	go func() {
		recovered, err := s.RecoverSessions(r.ctx, left)
		if err != nil {
			r.log.Error(err, "could not upload every recording left in the spool")
		}
		if len(recovered) > 0 {
			r.log.Info("uploaded interrupted recordings left in the spool", "sessions", recovered)
		}
		for _, session := range recovered {
			if err := rebuildKeystrokes(r.ctx, s, session); err != nil {
				r.log.Error(err, "could not rebuild the keystroke log of a recovered recording", "session", session)
			}
		}
	}()
	if r.stores == nil {
		r.stores = map[string]*storage.Store{}
	}
	r.stores[key] = s
	return s, nil
}

// rebuildKeystrokes stores the keystroke log of a recording recovered from the spool, which
// its crashed process never wrote (the log is written when a session ends), from the key
// events in the recording itself. Key events are in a recording only when its launcher asked
// for keystrokes (they are removed otherwise), so a recording without any gets no log.
func rebuildKeystrokes(ctx context.Context, s *storage.Store, session string) error {
	rd, err := s.Open(ctx, session)
	if err != nil {
		return err
	}
	defer rd.Close()
	keys := newKeystrokeLog()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if rec.Direction == capture.ClientToTarget {
			keys.feed(rec)
		}
	}
	if keys.entries == 0 {
		return nil
	}
	log, err := keys.bytes()
	if err != nil {
		return err
	}
	return s.PutKeystrokes(ctx, session, log)
}

// recoverRecordings uploads, at start, what a previous process left in the spool for the
// clusters this proxy serves (its one cluster, or every cluster a listing catalog has), rather
// than waiting for their next recorded session. Spool folders that belong to no current
// storage configuration (credentials or bucket changed since) are named in a warning: they are
// kept for an operator to upload.
func (s *Server) recoverRecordings(ctx context.Context) {
	if s.rec.spool == "" {
		return
	}
	names := []string{s.cfg.Cluster}
	if s.cfg.Cluster == "" {
		lister, ok := s.cfg.Catalog.(catalog.ClusterLister)
		if !ok {
			return
		}
		var err error
		if names, err = lister.ClusterNames(ctx); err != nil {
			s.rec.log.Error(err, "could not list the clusters whose spooled recordings to recover")
			return
		}
	}
	for _, name := range names {
		cluster, err := s.cfg.Catalog.Cluster(ctx, name)
		if err != nil {
			s.rec.log.Error(err, "could not read the cluster whose spooled recordings to recover", "cluster", name)
			continue
		}
		if cluster.Spec.RecordingStorage == nil {
			continue
		}
		if _, err := s.rec.storeFor(ctx, s.cfg.Catalog, cluster); err != nil {
			s.rec.log.Error(err, "could not open the recording storage to recover spooled recordings", "cluster", name)
		}
	}
	s.rec.warnOrphans()
}

// warnOrphans names the spool folders no Store of this process uses.
func (r *recorders) warnOrphans() {
	entries, err := os.ReadDir(r.spool)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if _, ok := r.stores[e.Name()]; e.IsDir() && !ok {
			r.log.Info("spooled recordings of a storage configuration no cluster of this proxy uses now (changed credentials, bucket or endpoint?); upload them with the previous settings or remove them",
				"folder", filepath.Join(r.spool, e.Name()))
		}
	}
}

// tap takes copies of the relayed PDUs to the recording without ever blocking the relay, and
// decodes the client's input into the keystroke log when the launcher asks for one.
type tap struct {
	rec     *storage.Recording
	queue   chan capture.Record
	done    chan struct{}
	dropped atomic.Int64
	pending atomic.Int64 // bytes in queue
	drops   dropLog
	// flushEvery ends a chunk at least this often (Config.RecordingFlushInterval).
	flushEvery time.Duration
	err        atomic.Value // error

	keys *keystrokeLog // nil without keystroke recording
}

func newTap(rec *storage.Recording, keystrokes bool, flushEvery time.Duration) *tap {
	t := &tap{rec: rec, queue: make(chan capture.Record, tapQueue), done: make(chan struct{}), flushEvery: flushEvery}
	if keystrokes {
		t.keys = newKeystrokeLog()
	}
	go t.run()
	return t
}

// keystrokeLog decodes the client's input into a keystroke log (recorder/keylog JSON Lines).
type keystrokeLog struct {
	buf     bytes.Buffer
	w       *keylog.Writer
	decoder keylog.Decoder
	entries int
}

func newKeystrokeLog() *keystrokeLog {
	k := &keystrokeLog{}
	k.w = keylog.NewWriter(&k.buf)
	return k
}

// feed takes a client PDU: fast-path input, or a slow-path Input PDU in an MCS Send Data
// Request; anything else is ignored.
func (k *keystrokeLog) feed(rec capture.Record) {
	var events []input.Event
	var err error
	switch rec.Kind {
	case capture.KindFastPath:
		events, err = input.ParseFastPath(rec.PDU)
	default:
		if typ, ok := shareControlType(rec.PDU); !ok || typ != pdu.PDUTypeData {
			return
		}
		_, p, perr := mcs.ReadPDU(rec.PDU)
		sdr, ok := p.(*mcs.SendDataRequest)
		if perr != nil || !ok {
			return
		}
		events, err = input.ParseSlowPathPDU(sdr.Data)
	}
	if err != nil {
		return // not input, or input this decoder does not know: the capture still has it
	}
	for _, ev := range events {
		if e, ok := k.decoder.Feed(rec.Time, ev); ok {
			_ = k.w.WriteEntry(e)
			k.entries++
		}
	}
}

// bytes ends the log and returns it.
func (k *keystrokeLog) bytes() ([]byte, error) {
	if err := k.w.Flush(); err != nil {
		return nil, err
	}
	return k.buf.Bytes(), nil
}

// add queues a copy of a PDU; false when the recorder cannot keep up.
func (t *tap) add(dir capture.Direction, kind tpkt.Kind, b []byte) bool {
	if t.err.Load() != nil {
		return true // the recording has failed: nothing more to copy (the relay checks failed())
	}
	k := capture.KindTPKT
	if kind == tpkt.KindFastPath {
		k = capture.KindFastPath
	}
	n := int64(len(b))
	if t.pending.Add(n) <= tapQueueBytes {
		select {
		case t.queue <- capture.Record{Time: time.Now(), Direction: dir, Kind: k, PDU: append([]byte(nil), b...)}:
			return true
		default:
		}
	}
	t.pending.Add(-n)
	t.dropped.Add(1)
	t.drops.note(time.Now(), len(b))
	return false
}

// dropLog keeps the runs of PDUs a best-effort tap dropped, for the manifest.
type dropLog struct {
	mu   sync.Mutex
	runs []capture.Dropped
}

func (d *dropLog) note(at time.Time, size int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.runs); n > 0 && (at.Sub(d.runs[n-1].To) < dropRunGap || n == maxDropRuns) {
		last := &d.runs[n-1]
		last.To = at
		last.Records++
		last.Bytes += int64(size)
		return
	}
	d.runs = append(d.runs, capture.Dropped{From: at, To: at, Records: 1, Bytes: int64(size)})
}

func (d *dropLog) list() []capture.Dropped {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]capture.Dropped(nil), d.runs...)
}

func (t *tap) run() {
	defer close(t.done)
	tick := time.NewTicker(t.flushEvery)
	defer tick.Stop()
	fail := func(err error) {
		t.err.CompareAndSwap(nil, err)
	}
	for {
		select {
		case rec, ok := <-t.queue:
			if !ok {
				return
			}
			t.pending.Add(-int64(len(rec.PDU)))
			if rec.Direction == capture.ClientToTarget {
				if t.keys != nil {
					t.keys.feed(rec)
				} else if rec, ok = withoutKeystrokes(rec); !ok {
					continue
				}
			}
			if t.err.Load() == nil {
				if err := t.rec.Write(rec); err != nil {
					fail(err)
				}
			}
		case <-tick.C:
			if t.err.Load() == nil {
				if err := t.rec.Flush(); err != nil {
					fail(err)
				}
			}
		}
	}
}

// withoutKeystrokes removes the key events from a client PDU of a session whose launcher does
// not record keystrokes, so that the recording cannot be read for them: fast-path input is
// re-encoded without them (dropped when nothing else was in it, or when it cannot be decoded),
// and the key events of a slow-path Input PDU are blanked in place. Mouse input stays: replay
// draws the pointer from it.
func withoutKeystrokes(rec capture.Record) (capture.Record, bool) {
	switch rec.Kind {
	case capture.KindFastPath:
		out, err := input.RedactFastPath(rec.PDU)
		if err != nil || out == nil {
			return rec, false
		}
		rec.PDU = out
	default:
		if typ, ok := shareControlType(rec.PDU); !ok || typ != pdu.PDUTypeData {
			return rec, true
		}
		if _, p, err := mcs.ReadPDU(rec.PDU); err == nil {
			if sdr, ok := p.(*mcs.SendDataRequest); ok {
				// In place. Not an Input PDU: left alone; an Input PDU that cannot be redacted
				// (bulk-compressed): not kept.
				if _, err := input.RedactSlowPath(sdr.Data); errors.Is(err, input.ErrUnsupported) {
					return rec, false
				}
			}
		}
	}
	return rec, true
}

// failed returns the first write error.
func (t *tap) failed() error {
	err, _ := t.err.Load().(error)
	return err
}

// finish stops the tap and closes the recording; it returns the manifest's URI and SHA-256.
func (t *tap) finish(ctx context.Context, rs *v1alpha1.RecordingStorageSpec, session string) (*v1alpha1.RecordingReference, error) {
	close(t.queue)
	<-t.done
	ref := &v1alpha1.RecordingReference{URI: "s3://" + rs.Bucket + "/" + storage.ManifestKey(rs.Prefix, session)}
	if t.keys != nil {
		log, err := t.keys.bytes()
		if err == nil {
			err = t.rec.PutKeystrokes(ctx, log)
		}
		if err != nil {
			t.err.CompareAndSwap(nil, fmt.Errorf("store the keystroke log: %w", err))
		}
	}
	t.rec.SetDropped(t.drops.list())
	m, err := t.rec.Close(ctx)
	if err != nil {
		return ref, err
	}
	b, err := m.Marshal() // the bytes Close stored
	if err != nil {
		return ref, err
	}
	sum := sha256.Sum256(b)
	// BestEffort: PDUs that did not fit the queue are missing (the manifest lists them), so
	// the recording is not complete.
	ref.SHA256, ref.Complete = hex.EncodeToString(sum[:]), m.Lossless()
	return ref, t.failed()
}

// startRecording begins the recording of a session in its cluster's storage.
func (c *connection) startRecording(ctx context.Context, sess *v1alpha1.Session, t *target) (*tap, error) {
	store, err := c.s.rec.storeFor(ctx, c.s.cfg.Catalog, t.cluster)
	if err != nil {
		return nil, err
	}
	rec, err := store.Begin(c.s.rec.ctx, capture.Meta{
		Session: sess.Name, User: sess.Spec.User, SecretID: fmt.Sprint(sess.Spec.SecretID),
		Target: sess.Spec.Target, Launcher: sess.Spec.LauncherRef, Cluster: t.cluster.Name, Start: c.s.cfg.Now().UTC(),
	})
	if err != nil {
		return nil, err
	}
	return newTap(rec, t.launcher.Spec.RecordKeystrokes, c.s.cfg.RecordingFlushInterval), nil
}

// abandonRecording closes the recording of a session that never started (the handshake
// failed, or the proxy was at capacity) in the background, so that neither the handshake slot
// nor the caller waits for S3; the upload stops when the proxy does (what is left stays in the
// spool for the next start).
func (c *connection) abandonRecording(rec *tap, rs *v1alpha1.RecordingStorageSpec) {
	session := c.session.Name
	go func() {
		ctx, cancel := context.WithTimeout(c.s.rec.ctx, 2*time.Minute)
		defer cancel()
		if _, err := rec.finish(ctx, rs, session); err != nil {
			c.s.metrics.recordings.WithLabelValues(recordingFailed).Inc()
			c.log.Error(err, "could not close the recording of a session that did not start; it stays in the spool")
		}
	}()
}

// finishRecording closes a session's recording, and writes an audit entry on the secret in
// Secret Server that names it. It returns the reference for the Session's status.
func (c *connection) finishRecording(t *target, rec *tap, started time.Time) *v1alpha1.RecordingReference {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs := t.cluster.Spec.RecordingStorage
	ref, err := rec.finish(ctx, rs, c.session.Name)
	c.s.metrics.dropped.Add(float64(rec.dropped.Load()))
	switch {
	case err != nil:
		c.s.metrics.recordings.WithLabelValues(recordingFailed).Inc()
		c.log.Error(err, "the recording could not be completed; it stays in the spool and is uploaded when storage is back", "recording", ref.URI)
	default:
		outcome := recordingComplete
		if !ref.Complete {
			outcome = recordingIncomplete
		}
		c.s.metrics.recordings.WithLabelValues(outcome).Inc()
		c.log.Info("recording stored", "recording", ref.URI, "sha256", ref.SHA256, "complete", ref.Complete, "droppedPDUs", rec.dropped.Load())
	}
	comment := fmt.Sprintf("Session Connector session %s: user %s, target %s, launcher %s, %s to %s; recording %s sha256 %s",
		c.session.Name, c.session.Spec.User, c.session.Spec.Target, c.session.Spec.LauncherRef,
		started.UTC().Format(time.RFC3339), c.s.cfg.Now().UTC().Format(time.RFC3339), ref.URI, ref.SHA256)
	if base := strings.TrimRight(rs.PlayerURL, "/"); base != "" {
		comment += "; watch it at " + base + "/recordings/" + c.session.Name
	}
	if err := c.audit(ctx, t.cluster, comment); err != nil {
		c.log.Error(err, "could not write the audit entry in Secret Server")
	}
	return ref
}

// audit writes comment as a view-comment audit entry on the session's secret.
func (c *connection) audit(ctx context.Context, cluster *v1alpha1.RDSCluster, comment string) error {
	account, err := c.s.cfg.Catalog.ApplicationAccount(ctx, cluster)
	if err != nil {
		return err
	}
	app, err := c.s.cfg.SecretServers.Application(cluster.Spec.SecretServer.URL, []byte(cluster.Spec.SecretServer.CABundle), account)
	if err != nil {
		return err
	}
	return app.AddViewComment(ctx, int(c.session.Spec.SecretID), comment)
}
