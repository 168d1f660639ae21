package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
)

func TestRecorderVerify(t *testing.T) {
	p := s3peer.Start(t)
	c := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := storage.New(storage.Config{Client: c, Bucket: p.Bucket, Prefix: "rec", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Begin(ctx, capture.Meta{Session: "s-verifycommand00", User: "alice", Target: "web01:3389", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range 3 {
		for i := range 5 {
			rec := capture.Record{Time: time.Now(), Direction: capture.ClientToTarget, Kind: capture.KindTPKT, PDU: []byte{3, 0, 0, byte(chunk), byte(i)}}
			if err := r.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", p.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", p.SecretKey)
	run := func() (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"recorder", "verify", "--endpoint", "http://" + p.Endpoint, "--bucket", p.Bucket, "--prefix", "rec", "--session", "s-verifycommand00"})
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "verifies: 3 chunks, 15 records, complete") {
		t.Fatalf("verify: %q %v", out, err)
	}
	// Corrupt chunk 2: verify names it.
	key := storage.ChunkKey("rec", "s-verifycommand00", 2)
	obj, err := c.GetObject(ctx, p.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	if _, err := data.ReadFrom(obj); err != nil {
		t.Fatal(err)
	}
	b := data.Bytes()
	b[len(b)-1] ^= 0xFF
	if _, err := c.PutObject(ctx, p.Bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("verify of a corrupted recording: %v, want an error naming chunk 2", err)
	}
}
