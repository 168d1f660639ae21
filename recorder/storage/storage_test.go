package storage

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
)

func newStore(t *testing.T, p *s3peer.Peer, spool string) (*Store, *minio.Client) {
	t.Helper()
	c := p.Client(t)
	s, err := New(Config{Client: c, Bucket: p.Bucket, Prefix: "rec", SpoolDir: spool,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func meta(session string) capture.Meta {
	return capture.Meta{Session: session, User: "alice", SecretID: "42", Target: "rds1:3389",
		Launcher: "rdp", Start: time.Now().UTC()}
}

func writeChunks(t *testing.T, r *Recording, chunks, perChunk int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(chunks), 2))
	for range chunks {
		for i := range perChunk {
			pdu := make([]byte, 1+rng.IntN(500))
			for j := range pdu {
				pdu[j] = byte(rng.IntN(8))
			}
			rec := capture.Record{Time: time.Now(), Direction: capture.Direction(1 + i%2), Kind: capture.KindTPKT, PDU: pdu}
			if err := r.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUploadAndVerify(t *testing.T) {
	p := s3peer.Start(t)
	s, c := newStore(t, p, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := s.Begin(ctx, meta("sess-1"))
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, r, 5, 20)
	// A best-effort recorder that could not keep up says what it left out.
	dropped := []capture.Dropped{{From: time.Now().UTC(), To: time.Now().UTC(), Records: 7, Bytes: 700}}
	r.SetDropped(dropped)
	m, err := r.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Complete || len(m.Chunks) != 5 || m.Lossless() {
		t.Fatalf("manifest: complete=%v chunks=%d lossless=%v", m.Complete, len(m.Chunks), m.Lossless())
	}
	rep, err := Verify(ctx, c, p.Bucket, "rec", "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Chunks != 5 || rep.Records != 100 || !rep.Manifest.Complete || len(rep.Manifest.Dropped) != 1 || rep.Manifest.Dropped[0].Records != 7 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.SpoolDir, "sess-1")); !os.IsNotExist(err) {
		t.Fatalf("spool not cleared: %v", err)
	}

	// A corrupted chunk object is named by Verify.
	obj, err := c.GetObject(ctx, p.Bucket, ChunkKey("rec", "sess-1", 3), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, m.Chunks[2].Size)
	if _, err := io.ReadFull(obj, data); err != nil {
		t.Fatal(err)
	}
	_ = obj.Close()
	data[len(data)-2] ^= 1
	if _, err := c.PutObject(ctx, p.Bucket, ChunkKey("rec", "sess-1", 3), bytesReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, c, p.Bucket, "rec", "sess-1")
	var ce *capture.ChunkError
	if !errors.As(err, &ce) || ce.Seq != 3 {
		t.Fatalf("got %v, want an error naming chunk 3", err)
	}
}

func TestS3OutageMidRecording(t *testing.T) {
	p := s3peer.Start(t)
	s, c := newStore(t, p, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := s.Begin(ctx, meta("sess-2"))
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, r, 2, 10)
	p.Stop()
	writeChunks(t, r, 3, 10)
	time.Sleep(3 * time.Second)
	p.Restart()
	writeChunks(t, r, 2, 10)
	m, err := r.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, c, p.Bucket, "rec", "sess-2")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Complete || rep.Chunks != 7 || rep.Records != 70 {
		t.Fatalf("report %+v", rep)
	}
}

func TestCrashThenRecover(t *testing.T) {
	p := s3peer.Start(t)
	spool := t.TempDir()
	s, c := newStore(t, p, spool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	crashCtx, crash := context.WithCancel(ctx)
	r, err := s.Begin(crashCtx, meta("sess-3"))
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, r, 2, 10)
	p.Stop()
	writeChunks(t, r, 2, 10)                                                                                                 // spooled, not uploaded
	_ = r.Write(capture.Record{Time: time.Now(), Direction: capture.ClientToTarget, Kind: capture.KindTPKT, PDU: []byte{1}}) // never flushed: lost
	crash()
	<-r.done
	p.Restart()

	s2, _ := newStore(t, p, spool)
	got, err := s2.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "sess-3" {
		t.Fatalf("recovered %v", got)
	}
	rep, err := Verify(ctx, c, p.Bucket, "rec", "sess-3")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Manifest.Complete || rep.Chunks != 4 || rep.Records != 40 || rep.Manifest.User != "alice" {
		t.Fatalf("report %+v complete=%v", rep, rep.Manifest.Complete)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Fatalf("spool not empty: %d entries", len(entries))
	}
}

// While S3 is away, the spool budget bounds what waits: past it, writing fails with
// ErrSpoolFull and no recording begins; once S3 is back and the spool drains, recording
// resumes. Chunks a previous process left count against the budget.
func TestSpoolBudget(t *testing.T) {
	p := s3peer.Start(t)
	spool := t.TempDir()
	budget := NewBudget(64 << 10)
	c := p.Client(t)
	s, err := New(Config{Client: c, Bucket: p.Bucket, Prefix: "rec", SpoolDir: spool, Budget: budget,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.Stop()
	r, err := s.Begin(ctx, meta("full-1"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		pdu := make([]byte, 4096)
		for j := range pdu {
			pdu[j] = byte(rng.Uint32()) // incompressible
		}
		if werr = r.Write(capture.Record{Time: time.Now(), Direction: capture.TargetToClient, Kind: capture.KindTPKT, PDU: pdu}); werr == nil {
			werr = r.Flush()
		}
	}
	if !errors.Is(werr, ErrSpoolFull) {
		t.Fatalf("writing past the budget: %v", werr)
	}
	if used := budget.Used(); used > 64<<10 || used == 0 {
		t.Fatalf("budget used %d", used)
	}
	if _, err := s.Begin(ctx, meta("full-2")); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("a recording began while the spool is full: %v", err)
	}

	// A new process over the same spool counts what is there.
	other := NewBudget(64 << 10)
	if _, err := New(Config{Client: c, Bucket: p.Bucket, Prefix: "rec", SpoolDir: spool, Budget: other}); err != nil {
		t.Fatal(err)
	}
	if other.Used() != budget.Used() {
		t.Fatalf("a new process counts %d spooled bytes, the writer %d", other.Used(), budget.Used())
	}

	p.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for budget.Used() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if budget.Used() != 0 {
		t.Fatalf("the spool did not drain once S3 was back: %d bytes", budget.Used())
	}
	r2, err := s.Begin(ctx, meta("after-1"))
	if err != nil {
		t.Fatalf("recording after the spool drained: %v", err)
	}
	writeChunks(t, r2, 2, 5)
	if _, err := r2.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A chunk that was journalled but is in neither the spool nor S3 is one gap in the recovered
// manifest, named once; so is a lost run at the end.
func TestRecoverNamesLostChunksOnce(t *testing.T) {
	p := s3peer.Start(t)
	spool := t.TempDir()
	s, c := newStore(t, p, spool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	crashCtx, crash := context.WithCancel(ctx)
	r, err := s.Begin(crashCtx, meta("sess-lost"))
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, r, 2, 5)
	p.Stop()
	writeChunks(t, r, 4, 5) // chunks 3 to 6, spooled only
	crash()
	<-r.done
	for _, seq := range []uint32{3, 6} { // lost from the spool (a disk fault, say)
		if err := os.Remove(filepath.Join(spool, "sess-lost", chunkFile(seq))); err != nil {
			t.Fatal(err)
		}
	}
	p.Restart()
	s2, _ := newStore(t, p, spool)
	if _, err := s2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, p.Bucket, ManifestKey("rec", "sess-lost"), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	_ = obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	m, err := capture.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []capture.Gap{{FromSeq: 3, ToSeq: 3, Reason: "chunks lost"}, {FromSeq: 6, ToSeq: 6, Reason: "chunks lost"}}
	if len(m.Chunks) != 4 || !slices.Equal(m.Gaps, want) {
		t.Fatalf("%d chunks, gaps %+v, want 4 and %+v", len(m.Chunks), m.Gaps, want)
	}
}
