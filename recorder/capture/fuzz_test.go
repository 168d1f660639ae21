package capture

import (
	"bytes"
	"testing"
)

// FuzzReadChunk feeds arbitrary bytes to the chunk decoder and the stream Reader: neither may
// panic or allocate beyond the limits, and whatever decodes must re-encode to the same records.
func FuzzReadChunk(f *testing.F) {
	data, chunks := writeStream(f, testRecords(12, 5), 5)
	f.Add(data)
	f.Add(data[:chunks[0].Size])
	f.Add(data[:HeaderSize])
	f.Add([]byte(Magic))
	f.Add([]byte{})
	dec, err := NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, recs, err := dec.DecodeChunk(b); err == nil {
			if uint32(len(recs)) != info.Records {
				t.Fatalf("%d records, header says %d", len(recs), info.Records)
			}
			for _, r := range recs {
				if err := r.validate(); err != nil {
					t.Fatalf("decoded invalid record: %v", err)
				}
			}
		}
		_, _ = readAll(bytes.Clone(b))
	})
}
