package storage

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
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
