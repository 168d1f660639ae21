package input

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
)

// The seeds of FuzzParseFastPathInput in testdata/fuzz are the captures' fast-path input PDUs.

func FuzzParseFastPathInput(f *testing.F) {
	f.Add([]byte{0x00, 0x05, 0x01, 0x00, 0x1E})
	f.Add([]byte{0x18, 0x14, 0x80, 0x10, 0x01, 0x00, 0x09, 0x33, 0x20, 0x00, 0x02, 0x01, 0x00, 0x02, 0x00, 0xE0, 0x01, 0x02, 0x03, 0x04})
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := ParseFastPath(in)
		if err != nil {
			return
		}
		p, err := fastpath.ParseInput(in)
		if err != nil {
			t.Fatalf("events parsed but not the PDU: %v", err)
		}
		var enc []byte
		for _, e := range events {
			if enc, err = AppendFastPathEvent(enc, e); err != nil {
				t.Fatalf("encode a parsed event %+v: %v", e, err)
			}
			_, _ = e.Button()
			_, _, _ = e.Wheel()
		}
		if !bytes.Equal(enc, p.Events) {
			t.Fatalf("events re-encoded as % x, want % x", enc, p.Events)
		}
		p.Events = enc
		out, err := p.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-marshal: %v", err)
		}
		again, err := ParseFastPath(out)
		if err != nil || !reflect.DeepEqual(again, events) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseSlowPathInput(f *testing.F) {
	f.Add([]byte{0x22, 0x00, 0x17, 0x00, 0xEF, 0x03, 0xEA, 0x03, 0x01, 0x00, 0x01, 0x00, 0x10, 0x00, 0x1C, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x80, 0x1E, 0x00, 0x00, 0x00})
	f.Add([]byte{0x2E, 0x00, 0x17, 0x00, 0xEF, 0x03, 0xEA, 0x03, 0x01, 0x00, 0x01, 0x00, 0x1C, 0x00, 0x1C, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x90, 0x2C, 0x01, 0x96, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := ParseSlowPathPDU(in)
		if err != nil {
			return
		}
		data, err := MarshalSlowPath(events)
		if err != nil {
			t.Fatalf("marshal parsed events: %v", err)
		}
		again, err := ParseSlowPath(data)
		if err != nil || !reflect.DeepEqual(again, events) {
			t.Fatalf("re-parse: %v\n%+v\n%+v", err, again, events)
		}
		for _, e := range events {
			_, _ = e.Button()
			_ = e.Moved()
			_, _ = AppendFastPathEvent(nil, e)
		}
	})
}

// FuzzRedact: whatever the input, redaction returns an error or input without a keyboard event
// that still decodes, and never panics.
func FuzzRedact(f *testing.F) {
	keys, _ := MarshalFastPath([]Event{{Source: FastPath, Kind: KindScancode, Scancode: 0x1E},
		{Source: FastPath, Kind: KindMouse, PointerFlags: PtrFlagsMove, X: 10, Y: 20},
		{Source: FastPath, Kind: KindUnicode, Unicode: 'x'}})
	f.Add(keys)
	f.Add([]byte{0x00, 0x05, 0x01, 0x00, 0x1E})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := RedactFastPath(append([]byte(nil), in...))
		if err == nil && out != nil {
			events, err := ParseFastPath(out)
			if err != nil {
				t.Fatalf("redacted PDU does not decode: %v", err)
			}
			for _, e := range events {
				if e.Keyboard() {
					t.Fatalf("a key is left: %+v", e)
				}
			}
		}
		b := append([]byte(nil), in...)
		if _, err := RedactSlowPath(b); err == nil {
			events, err := ParseSlowPathPDU(b)
			if err != nil {
				t.Fatalf("redacted slow-path PDU does not decode: %v", err)
			}
			for _, e := range events {
				if e.Keyboard() {
					t.Fatalf("a key is left: %+v", e)
				}
			}
		}
	})
}
