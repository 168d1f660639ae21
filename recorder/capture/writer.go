package capture

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Chunk is a finished chunk: its description and its bytes (header then body).
type Chunk struct {
	Info ChunkInfo
	Data []byte
}

// Sink receives finished chunks, in order. The Writer does not keep Data after WriteChunk
// returns.
type Sink interface {
	WriteChunk(c Chunk) error
}

// StreamSink writes chunks one after another to an io.Writer: the file form of a recording,
// which a Reader reads back.
type StreamSink struct{ W io.Writer }

// WriteChunk implements Sink.
func (s StreamSink) WriteChunk(c Chunk) error {
	if _, err := s.W.Write(c.Data); err != nil {
		return fmt.Errorf("write chunk %d: %w", c.Info.Seq, err)
	}
	return nil
}

// Writer turns records into chunks. It is not safe for concurrent use.
type Writer struct {
	sink Sink
	enc  *zstd.Encoder

	seq         uint32
	prev        Hash
	buf         []byte
	records     uint32
	first, last int64
	chunks      []ChunkInfo
	err         error
	closed      bool
}

// NewWriter returns a Writer that hands its chunks to sink.
func NewWriter(sink Sink) (*Writer, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true),
		zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &Writer{sink: sink, enc: enc}, nil
}

// Write adds a record to the current chunk; it ends the chunk when it reaches ChunkTarget
// bytes. Invalid records are refused with an error wrapping ErrInvalid (the Writer stays
// usable); after a sink error every call returns that error.
func (w *Writer) Write(r Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("capture writer closed")
	}
	if err := r.validate(); err != nil {
		return err
	}
	t := r.Time.UnixNano()
	if w.records == 0 {
		w.first, w.last = t, t
	}
	w.first, w.last = min(w.first, t), max(w.last, t)
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(t))
	h[8], h[9] = byte(r.Direction), byte(r.Kind)
	binary.LittleEndian.PutUint32(h[10:], uint32(len(r.PDU)))
	w.buf = append(append(w.buf, h[:]...), r.PDU...)
	w.records++
	if len(w.buf) >= ChunkTarget {
		return w.Flush()
	}
	return nil
}

// Flush ends the current chunk and hands it to the sink; it does nothing when no record is
// buffered.
func (w *Writer) Flush() error {
	if w.err != nil || w.records == 0 {
		return w.err
	}
	body := w.enc.EncodeAll(w.buf, nil)
	h := header{
		seq: w.seq + 1, records: w.records, first: w.first, last: w.last,
		rawLen: uint32(len(w.buf)), bodyLen: uint32(len(body)),
		prevHash: w.prev, bodySum: sha256.Sum256(body),
	}
	data := append(h.marshal(), body...)
	info := ChunkInfo{
		Seq: h.seq, First: time.Unix(0, h.first).UTC(), Last: time.Unix(0, h.last).UTC(),
		Records: h.records, RawSize: h.rawLen, Size: int64(len(data)),
		PrevHash: h.prevHash, SHA256: sha256.Sum256(data),
	}
	if err := w.sink.WriteChunk(Chunk{Info: info, Data: data}); err != nil {
		w.err = fmt.Errorf("capture sink: %w", err)
		return w.err
	}
	w.seq, w.prev = h.seq, info.SHA256
	w.chunks = append(w.chunks, info)
	w.buf, w.records = w.buf[:0], 0
	return nil
}

// Chunks returns the chunks written so far.
func (w *Writer) Chunks() []ChunkInfo { return append([]ChunkInfo(nil), w.chunks...) }

// Close flushes the last chunk and releases the encoder.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	err := w.Flush()
	w.closed = true
	_ = w.enc.Close()
	return err
}
