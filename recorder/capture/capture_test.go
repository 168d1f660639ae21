package capture

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

func testRecords(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	recs := make([]Record, n)
	for i := range recs {
		pdu := make([]byte, 1+rng.IntN(3000))
		for j := range pdu {
			pdu[j] = byte(rng.IntN(16)) // compressible, like real PDUs
		}
		recs[i] = Record{
			Time:      t0.Add(time.Duration(i) * time.Millisecond),
			Direction: Direction(1 + i%2), Kind: Kind(1 + (i/3)%2), PDU: pdu,
		}
	}
	return recs
}

// writeStream writes recs, flushing every flushEvery records, and returns the chunk stream.
func writeStream(t testing.TB, recs []Record, flushEvery int) ([]byte, []ChunkInfo) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(StreamSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if (i+1)%flushEvery == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Chunks()
}

func readAll(data []byte) ([]Record, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestRoundTrip(t *testing.T) {
	for name, tc := range map[string]struct{ n, flushEvery int }{
		"one record":      {1, 1},
		"one chunk":       {100, 1000},
		"many chunks":     {1000, 37},
		"auto-flush size": {2000, 1 << 30},
	} {
		t.Run(name, func(t *testing.T) {
			recs := testRecords(tc.n, uint64(tc.n))
			data, chunks := writeStream(t, recs, tc.flushEvery)
			got, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs) {
				t.Fatalf("read %d records, wrote %d", len(got), len(recs))
			}
			for i := range recs {
				if !got[i].Time.Equal(recs[i].Time) || got[i].Direction != recs[i].Direction ||
					got[i].Kind != recs[i].Kind || !bytes.Equal(got[i].PDU, recs[i].PDU) {
					t.Fatalf("record %d differs", i)
				}
			}
			for i, c := range chunks {
				if c.Seq != uint32(i+1) {
					t.Fatalf("chunk %d has seq %d", i, c.Seq)
				}
			}
		})
	}
}

func TestEmptyFlushWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(StreamSink{W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 || len(w.Chunks()) != 0 {
		t.Fatalf("empty recording wrote %d bytes", buf.Len())
	}
}

func TestInvalidRecordRefused(t *testing.T) {
	w, err := NewWriter(StreamSink{W: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	for name, r := range map[string]Record{
		"direction": {Time: now, Direction: 9, Kind: KindTPKT, PDU: []byte{1}},
		"kind":      {Time: now, Direction: ClientToTarget, Kind: 0, PDU: []byte{1}},
		"empty":     {Time: now, Direction: ClientToTarget, Kind: KindTPKT},
		"too big":   {Time: now, Direction: ClientToTarget, Kind: KindTPKT, PDU: make([]byte, MaxPDUSize+1)},
		"no time":   {Direction: ClientToTarget, Kind: KindTPKT, PDU: []byte{1}},
	} {
		if err := w.Write(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

// TestCorruptionNamesChunk flips one byte in each part of chunk 3 of 5 and checks the error
// names chunk 3, with the records of chunks 1 and 2 read before it.
func TestCorruptionNamesChunk(t *testing.T) {
	recs := testRecords(50, 7)
	data, chunks := writeStream(t, recs, 10)
	if len(chunks) != 5 {
		t.Fatalf("%d chunks, want 5", len(chunks))
	}
	start := chunks[0].Size + chunks[1].Size
	for name, off := range map[string]int64{
		"magic":     0,
		"seq":       8,
		"prev hash": 50,
		"body sum":  80,
		"crc":       105,
		"body":      HeaderSize + 5,
		"body end":  chunks[2].Size - 1,
	} {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(data)
			bad[start+off] ^= 0x40
			got, err := readAll(bad)
			var ce *ChunkError
			if !errors.As(err, &ce) || ce.Seq != 3 {
				t.Fatalf("got %v, want a ChunkError for chunk 3", err)
			}
			if len(got) != 20 {
				t.Fatalf("read %d records before the error, want 20", len(got))
			}
		})
	}
}

func TestChainCatchesDroppedAndSwappedChunks(t *testing.T) {
	recs := testRecords(30, 9)
	data, chunks := writeStream(t, recs, 10)
	c1, c2, c3 := data[:chunks[0].Size], data[chunks[0].Size:chunks[0].Size+chunks[1].Size], data[chunks[0].Size+chunks[1].Size:]
	for name, tc := range map[string]struct {
		data []byte
		seq  uint32
	}{
		"dropped":   {append(bytes.Clone(c1), c3...), 2},
		"swapped":   {append(append(bytes.Clone(c2), c1...), c3...), 1},
		"truncated": {data[:len(data)-3], 3},
	} {
		_, err := readAll(tc.data)
		var ce *ChunkError
		if !errors.As(err, &ce) || ce.Seq != tc.seq {
			t.Errorf("%s: got %v, want a ChunkError for chunk %d", name, err, tc.seq)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	_, chunks := writeStream(t, testRecords(20, 3), 10)
	m := Manifest{Version: ManifestVersion, Meta: Meta{Session: "s1", User: "alice", Target: "rds1:3389",
		Start: chunks[0].First}, End: chunks[1].Last, Complete: true}
	for _, c := range chunks {
		m.Chunks = append(m.Chunks, ManifestChunkOf(c, "x"))
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Session != "s1" || len(got.Chunks) != 2 || got.Chunks[1].SHA256 != m.Chunks[1].SHA256 {
		t.Fatalf("manifest changed: %+v", got)
	}
	if _, err := ParseManifest([]byte(`{"version":1,"session":"s","bogus":1}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
}
