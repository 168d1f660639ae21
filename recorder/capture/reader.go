package capture

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Decoder decodes single chunks. It holds a zstd decoder: Close it when done. It is not safe
// for concurrent use.
type Decoder struct{ dec *zstd.Decoder }

// NewDecoder returns a Decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(MaxRawSize), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Close releases the decoder.
func (d *Decoder) Close() { d.dec.Close() }

// ParseChunkHeader checks the header at the start of data and describes the chunk without
// decompressing it; the body must follow the header whole and match its hash.
func ParseChunkHeader(data []byte) (ChunkInfo, error) {
	h, err := parseHeader(data)
	if err != nil {
		return ChunkInfo{}, err
	}
	if int64(len(data)) != HeaderSize+int64(h.bodyLen) {
		return ChunkInfo{}, fmt.Errorf("chunk of %d bytes, header says %d", len(data), HeaderSize+int64(h.bodyLen))
	}
	if sha256.Sum256(data[HeaderSize:]) != h.bodySum {
		return ChunkInfo{}, errors.New("body hash mismatch")
	}
	return ChunkInfo{
		Seq: h.seq, First: time.Unix(0, h.first).UTC(), Last: time.Unix(0, h.last).UTC(),
		Records: h.records, RawSize: h.rawLen, Size: int64(len(data)),
		PrevHash: h.prevHash, SHA256: sha256.Sum256(data),
	}, nil
}

// DecodeChunk checks one whole chunk (header and body) and returns its records. It does not
// check the chain; a Reader does.
func (d *Decoder) DecodeChunk(data []byte) (ChunkInfo, []Record, error) {
	info, err := ParseChunkHeader(data)
	if err != nil {
		return ChunkInfo{}, nil, err
	}
	raw, err := d.dec.DecodeAll(data[HeaderSize:], make([]byte, 0, info.RawSize))
	if err != nil {
		return ChunkInfo{}, nil, fmt.Errorf("decompress body: %w", err)
	}
	if len(raw) != int(info.RawSize) {
		return ChunkInfo{}, nil, fmt.Errorf("body of %d bytes, header says %d", len(raw), info.RawSize)
	}
	recs, err := parseRecords(raw, info)
	if err != nil {
		return ChunkInfo{}, nil, err
	}
	return info, recs, nil
}

func parseRecords(raw []byte, info ChunkInfo) ([]Record, error) {
	recs := make([]Record, 0, min(info.Records, 4096))
	first, last := info.First.UnixNano(), info.Last.UnixNano()
	for len(raw) > 0 {
		if len(raw) < recordHeaderSize {
			return nil, fmt.Errorf("record %d: truncated", len(recs))
		}
		t := int64(binary.LittleEndian.Uint64(raw))
		n := binary.LittleEndian.Uint32(raw[10:])
		if n == 0 || n > MaxPDUSize || uint64(n) > uint64(len(raw)-recordHeaderSize) {
			return nil, fmt.Errorf("record %d: bad PDU length %d", len(recs), n)
		}
		if t < first || t > last {
			return nil, fmt.Errorf("record %d: time outside the chunk's", len(recs))
		}
		r := Record{
			Time: time.Unix(0, t).UTC(), Direction: Direction(raw[8]), Kind: Kind(raw[9]),
			PDU: raw[recordHeaderSize : recordHeaderSize+int(n) : recordHeaderSize+int(n)],
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
		raw = raw[recordHeaderSize+int(n):]
	}
	if uint32(len(recs)) != info.Records {
		return nil, fmt.Errorf("%d records, header says %d", len(recs), info.Records)
	}
	return recs, nil
}

// Reader reads a recording: chunks one after another (a StreamSink's output, or the chunk
// objects of a session concatenated in order). It verifies each chunk and the chain from the
// first; any failure is a *ChunkError.
type Reader struct {
	r      io.Reader
	dec    *Decoder
	prev   Hash
	seq    uint32
	recs   []Record
	chunks []ChunkInfo
	err    error
}

// NewReader returns a Reader of r. Close it when done.
func NewReader(r io.Reader) (*Reader, error) {
	dec, err := NewDecoder()
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, dec: dec}, nil
}

// Close releases the Reader's decoder.
func (r *Reader) Close() { r.dec.Close() }

// Chunks returns the chunks read and verified so far.
func (r *Reader) Chunks() []ChunkInfo { return append([]ChunkInfo(nil), r.chunks...) }

// Next returns the next record, or io.EOF after the last chunk.
func (r *Reader) Next() (Record, error) {
	for len(r.recs) == 0 {
		if r.err != nil {
			return Record{}, r.err
		}
		r.err = r.readChunk()
	}
	rec := r.recs[0]
	r.recs = r.recs[1:]
	return rec, nil
}

// ReadChunk reads and verifies the next chunk and returns its records, or io.EOF at the end.
func (r *Reader) ReadChunk() (ChunkInfo, []Record, error) {
	if r.err != nil {
		return ChunkInfo{}, nil, r.err
	}
	r.recs = nil
	if r.err = r.readChunk(); r.err != nil {
		return ChunkInfo{}, nil, r.err
	}
	recs := r.recs
	r.recs = nil
	return r.chunks[len(r.chunks)-1], recs, nil
}

func (r *Reader) readChunk() error {
	want := r.seq + 1
	fail := func(err error) error { return &ChunkError{Seq: want, Err: err} }
	hb := make([]byte, HeaderSize)
	if _, err := io.ReadFull(r.r, hb); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fail(fmt.Errorf("read header: %w", err))
	}
	h, err := parseHeader(hb)
	if err != nil {
		return fail(err)
	}
	var buf bytes.Buffer
	buf.Grow(HeaderSize + int(h.bodyLen))
	buf.Write(hb)
	if _, err := io.CopyN(&buf, r.r, int64(h.bodyLen)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fail(fmt.Errorf("read body: %w", err))
	}
	info, recs, err := r.dec.DecodeChunk(buf.Bytes())
	if err != nil {
		return fail(err)
	}
	if info.Seq != want {
		return fail(fmt.Errorf("sequence number %d out of order", info.Seq))
	}
	if info.PrevHash != r.prev {
		return fail(errors.New("chain broken: previous-chunk hash mismatch"))
	}
	r.seq, r.prev = info.Seq, info.SHA256
	r.chunks = append(r.chunks, info)
	r.recs = recs
	return nil
}
