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
	m, err := ReadManifest(ctx, client, bucket, prefix, session)
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
	cr := chunkObjects(ctx, client, bucket, m.Chunks)
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
	m, err := ReadManifest(ctx, client, bucket, prefix, session)
	if err != nil {
		return nil, err
	}
	return capture.NewReader(chunkObjects(ctx, client, bucket, m.Chunks))
}

// ReadManifest reads and checks a session's manifest.
func ReadManifest(ctx context.Context, client *minio.Client, bucket, prefix, session string) (*capture.Manifest, error) {
	obj, err := client.GetObject(ctx, bucket, ManifestKey(prefix, session), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get manifest: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(obj, capture.MaxManifestSize+1))
	_ = obj.Close()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return capture.ParseManifest(b)
}

// chunkObjects reads the chunk objects of a manifest one after another, each limited to the
// size the manifest gives.
func chunkObjects(ctx context.Context, client *minio.Client, bucket string, chunks []capture.ManifestChunk) *capture.Sequence {
	return capture.NewSequence(func() (io.ReadCloser, error) {
		if len(chunks) == 0 {
			return nil, io.EOF
		}
		ch := chunks[0]
		chunks = chunks[1:]
		if ch.Size <= 0 || ch.Size > capture.MaxChunkSize {
			return nil, &capture.ChunkError{Seq: ch.Seq, Err: fmt.Errorf("size %d out of range", ch.Size)}
		}
		obj, err := client.GetObject(ctx, bucket, ch.Key, minio.GetObjectOptions{})
		if err != nil {
			return nil, &capture.ChunkError{Seq: ch.Seq, Err: err}
		}
		return capture.LimitSource(obj, ch.Size), nil
	})
}
