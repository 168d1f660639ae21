package credssp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseTSRequest: no panic on any input; what parses marshals and parses back to the same
// value, and ReadTSRequest reads exactly the element that starts the input.
func FuzzParseTSRequest(f *testing.F) {
	for _, name := range captureFiles {
		f.Add(readGolden(f, name))
	}
	f.Add([]byte{0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x02})
	f.Add([]byte{0x30, 0x0e, 0xa0, 0x03, 0x02, 0x01, 0x06, 0xa4, 0x07, 0x02, 0x05, 0x00, 0xc0, 0x00, 0x00, 0x6d})
	f.Fuzz(func(t *testing.T, b []byte) {
		if msg, err := ReadTSRequest(bytes.NewReader(b), 0); err == nil && !bytes.HasPrefix(b, msg) {
			t.Fatalf("ReadTSRequest returned bytes that are not a prefix of the input")
		}
		r, err := ParseTSRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed request: %v", err)
		}
		again, err := ParseTSRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", again, r)
		}
		if enc2, _ := again.Marshal(); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not stable")
		}
		read, err := ReadTSRequest(bytes.NewReader(append(enc, 0x03)), 0)
		if err != nil || !bytes.Equal(read, enc) {
			t.Fatalf("ReadTSRequest of an encoded request: %v", err)
		}
	})
}

// FuzzParsePasswordCreds: no panic on any input.
func FuzzParsePasswordCreds(f *testing.F) {
	seed, err := marshalPasswordCreds("DOMAIN", "user", "password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parsePasswordCreds(b)
	})
}
