package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
)

// Report is what Verify found.
type Report struct {
	Manifest *capture.Manifest
	// Chunks and Records verified.
	Chunks, Records int
}

// Verify reads a session's manifest and every chunk it lists, checks each chunk and the
// chain, and that the chunks are those of the manifest. A bad chunk is a *capture.ChunkError.
func Verify(ctx context.Context, client *minio.Client, bucket, prefix, session string) (Report, error) {
	var rep Report
	obj, err := client.GetObject(ctx, bucket, ManifestKey(prefix, session), minio.GetObjectOptions{})
	if err != nil {
		return rep, fmt.Errorf("get manifest: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(obj, capture.MaxManifestSize+1))
	_ = obj.Close()
	if err != nil {
		return rep, fmt.Errorf("read manifest: %w", err)
	}
	m, err := capture.ParseManifest(b)
	if err != nil {
		return rep, err
	}
	rep.Manifest = m
	if m.Session != session {
		return rep, fmt.Errorf("manifest is of session %q", m.Session)
	}
	if len(m.Gaps) > 0 {
		return rep, fmt.Errorf("recording has %d gaps, first at chunk %d", len(m.Gaps), m.Gaps[0].FromSeq)
	}
	cr := &chunkObjects{ctx: ctx, client: client, bucket: bucket, chunks: m.Chunks}
	r, err := capture.NewReader(cr)
	if err != nil {
		return rep, err
	}
	defer r.Close()
	for _, want := range m.Chunks {
		info, recs, err := r.ReadChunk()
		if errors.Is(err, io.EOF) {
			return rep, &capture.ChunkError{Seq: want.Seq, Err: errors.New("missing")}
		}
		if err != nil {
			return rep, err
		}
		if info.Seq != want.Seq || hex.EncodeToString(info.SHA256[:]) != want.SHA256 {
			return rep, &capture.ChunkError{Seq: want.Seq, Err: errors.New("differs from the manifest")}
		}
		rep.Chunks++
		rep.Records += len(recs)
	}
	if _, _, err := r.ReadChunk(); !errors.Is(err, io.EOF) {
		return rep, fmt.Errorf("data after the last chunk: %w", err)
	}
	return rep, nil
}

// OpenRecording reads a session's manifest and returns a reader over the records of the chunks
// it lists (each chunk verified as it is read). Close the reader when done.
func OpenRecording(ctx context.Context, client *minio.Client, bucket, prefix, session string) (*capture.Reader, error) {
	obj, err := client.GetObject(ctx, bucket, ManifestKey(prefix, session), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get manifest: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(obj, capture.MaxManifestSize+1))
	_ = obj.Close()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := capture.ParseManifest(b)
	if err != nil {
		return nil, err
	}
	return capture.NewReader(&chunkObjects{ctx: ctx, client: client, bucket: bucket, chunks: m.Chunks})
}

// chunkObjects reads the chunk objects of a manifest one after another, each limited to the
// size the manifest gives.
type chunkObjects struct {
	ctx    context.Context
	client *minio.Client
	bucket string
	chunks []capture.ManifestChunk
	cur    io.ReadCloser
}

func (c *chunkObjects) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.chunks) == 0 {
				return 0, io.EOF
			}
			ch := c.chunks[0]
			c.chunks = c.chunks[1:]
			if ch.Size <= 0 || ch.Size > capture.MaxChunkSize {
				return 0, &capture.ChunkError{Seq: ch.Seq, Err: fmt.Errorf("size %d out of range", ch.Size)}
			}
			obj, err := c.client.GetObject(c.ctx, c.bucket, ch.Key, minio.GetObjectOptions{})
			if err != nil {
				return 0, &capture.ChunkError{Seq: ch.Seq, Err: err}
			}
			c.cur = struct {
				io.Reader
				io.Closer
			}{io.LimitReader(obj, ch.Size), obj}
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			_ = c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
