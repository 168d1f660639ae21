package fastpath

import (
	"bytes"
	"reflect"
	"testing"
)

// The seeds in testdata/fuzz/<target> are fast-path PDUs from the captures.

func FuzzParseFastPathInput(f *testing.F) {
	f.Add([]byte{0x00, 0x05, 0x01, 0x00, 0x1E})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseInput(in)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed PDU: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		again, err := ParseInput(out)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseFastPathOutput(f *testing.F) {
	f.Add([]byte{0x00, 0x80, 0x0A, 0x03, 0x00, 0x00, 0x80, 0x21, 0x01, 0x00, 0xCC})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseOutput(in)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed PDU: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		again, err := ParseOutput(out)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-parse: %v", err)
		}
		d := NewDefragmenter(1 << 16)
		for _, u := range p.Updates {
			_, _, _ = d.Add(u)
		}
	})
}
