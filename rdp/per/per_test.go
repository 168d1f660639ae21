package per

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestLength(t *testing.T) {
	tests := map[string]struct {
		hex     string
		n, size int
	}{
		"0":                    {"00", 0, 1},
		"127":                  {"7f", 127, 1},
		"128":                  {"8080", 128, 2},
		"0x158":                {"8158", 0x158, 2},
		"xrdp's 40 in 2 bytes": {"8028", 40, 2},
		"16 KiB (FreeRDP)":     {"c000", 0x4000, 2},
		"max":                  {"ffff", 0x7FFF, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(unhex(t, tc.hex))
			n, size, err := r.ReadLength()
			if err != nil || n != tc.n || size != tc.size || !r.Empty() {
				t.Fatalf("ReadLength = %d, %d, %v; want %d, %d", n, size, err, tc.n, tc.size)
			}
			again, err := AppendLengthSize(nil, n, size)
			if err != nil || hex.EncodeToString(again) != tc.hex {
				t.Fatalf("AppendLengthSize = %x, %v; want %s", again, err, tc.hex)
			}
		})
	}
	if got, _ := AppendLength(nil, 40); hex.EncodeToString(got) != "28" {
		t.Errorf("AppendLength(40) = %x", got)
	}
	if got, _ := AppendLength(nil, 330); hex.EncodeToString(got) != "814a" {
		t.Errorf("AppendLength(330) = %x", got)
	}
	for _, n := range []int{-1, MaxLength + 1} {
		if _, err := AppendLength(nil, n); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendLength(%d): err = %v", n, err)
		}
	}
	for _, in := range []string{"", "81"} {
		r := NewReader(unhex(t, in))
		if _, _, err := r.ReadLength(); !errors.Is(err, ErrMalformed) || r.Offset() != 0 {
			t.Errorf("ReadLength(%s): err = %v, offset %d", in, err, r.Offset())
		}
	}
}

func TestIntegers(t *testing.T) {
	for in, want := range map[string]uint32{"0100": 0, "0101": 1, "020100": 256, "03010000": 0x10000, "04ffffffff": 0xFFFFFFFF} {
		r := NewReader(unhex(t, in))
		v, size, err := r.ReadInteger()
		if err != nil || v != want || size != len(in)/2-1 || !r.Empty() {
			t.Errorf("ReadInteger(%s) = %d, %d, %v; want %d", in, v, size, err, want)
		}
		if got := AppendIntegerSize(nil, v, size); hex.EncodeToString(got) != in {
			t.Errorf("AppendIntegerSize(%d, %d) = %x, want %s", v, size, got, in)
		}
	}
	if got := AppendInteger(nil, 0x1234); hex.EncodeToString(got) != "021234" {
		t.Errorf("AppendInteger(0x1234) = %x", got)
	}
	for _, in := range []string{"00", "0501020304", "02ff", ""} {
		r := NewReader(unhex(t, in))
		if _, _, err := r.ReadInteger(); !errors.Is(err, ErrMalformed) || r.Offset() != 0 {
			t.Errorf("ReadInteger(%s): err = %v, offset %d", in, err, r.Offset())
		}
	}

	// UserId 1008 as FreeRDP and xrdp send it in Attach User Confirm.
	r := NewReader(unhex(t, "0007"))
	if v, err := r.ReadInteger16(1001); err != nil || v != 1008 {
		t.Errorf("ReadInteger16 = %d, %v", v, err)
	}
	if got, err := AppendInteger16(nil, 1008, 1001); err != nil || hex.EncodeToString(got) != "0007" {
		t.Errorf("AppendInteger16 = %x, %v", got, err)
	}
	if _, err := AppendInteger16(nil, 1000, 1001); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendInteger16 below min: err = %v", err)
	}
	if _, err := NewReader(unhex(t, "fc17")).ReadInteger16(1001); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadInteger16 overflow: err = %v", err)
	}
	if _, err := NewReader(unhex(t, "00")).ReadInteger16(0); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadInteger16 cut: err = %v", err)
	}
}

func TestEnumeratedAndBytes(t *testing.T) {
	r := NewReader(unhex(t, "00100f"))
	if v, err := r.ReadEnumerated(16); err != nil || v != 0 {
		t.Fatalf("ReadEnumerated = %d, %v", v, err)
	}
	if _, err := r.ReadEnumerated(16); !errors.Is(err, ErrMalformed) || r.Offset() != 1 {
		t.Fatalf("ReadEnumerated(0x10) of 16: err = %v, offset %d", err, r.Offset())
	}
	if _, err := AppendEnumerated(nil, 16, 16); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendEnumerated out of range: err = %v", err)
	}
	if got, _ := AppendEnumerated(nil, 3, 16); !bytes.Equal(got, []byte{3}) {
		t.Fatalf("AppendEnumerated = %x", got)
	}
	r = NewReader(unhex(t, "00080001c0"))
	for i, want := range []byte{0x00, 0x08, 0x00, 0x01, 0xC0} {
		var got byte
		var err error
		switch i {
		case 0, 4:
			got, err = r.ReadChoice()
		case 1:
			got, err = r.ReadSelection()
		case 2:
			var p []byte
			p, err = r.ReadPadding(1)
			if err == nil {
				got = p[0]
			}
		case 3:
			got, err = r.ReadNumberOfSets()
		}
		if err != nil || got != want {
			t.Fatalf("octet %d = %x, %v; want %x", i, got, err, want)
		}
	}
	if _, err := r.ReadByte(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ReadByte at the end: err = %v", err)
	}
	out := AppendChoice(nil, 0)
	out = AppendSelection(out, 8)
	out = AppendPadding(out, 2)
	out = AppendNumberOfSets(out, 1)
	if hex.EncodeToString(out) != "0008000001" {
		t.Fatalf("appenders = %x", out)
	}
}

func TestObjectIdentifier(t *testing.T) {
	b := unhex(t, "0500147c0001")
	r := NewReader(b)
	oid, err := r.ReadObjectIdentifier()
	if err != nil || !oid.Equal(T124Identifier()) || !r.Empty() {
		t.Fatalf("ReadObjectIdentifier = %v, %v", oid, err)
	}
	if oid.String() != "0.0.20.124.0.1" {
		t.Fatalf("String = %s", oid)
	}
	again, err := AppendObjectIdentifier(nil, oid)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("AppendObjectIdentifier = %x, %v", again, err)
	}
	// Multi-octet arcs and the joint-iso-itu-t first arc.
	big := ObjectIdentifier{2, 999, 0xFFFFFFFF, 128}
	enc, err := AppendObjectIdentifier(nil, big)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := NewReader(enc).ReadObjectIdentifier(); err != nil || !back.Equal(big) {
		t.Fatalf("round trip of %v: %v, %v", big, back, err)
	}
	if big.Equal(T124Identifier()) || big.Equal(big[:3]) {
		t.Fatal("Equal is wrong")
	}
	for _, bad := range []ObjectIdentifier{{0}, {3, 0}, {1, 40}, make(ObjectIdentifier, MaxOIDArcs+1)} {
		if _, err := AppendObjectIdentifier(nil, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendObjectIdentifier(%v): err = %v", bad, err)
		}
	}
	for _, in := range []string{"00", "0281", "028001", "0690ffffffff7f", "1100000000000000000000000000000000", "05001414"} {
		r := NewReader(unhex(t, in))
		if _, err := r.ReadObjectIdentifier(); !errors.Is(err, ErrMalformed) || r.Offset() != 0 {
			t.Errorf("ReadObjectIdentifier(%s): err = %v, offset %d", in, err, r.Offset())
		}
	}
}

func TestStrings(t *testing.T) {
	// The H.221 key "Duca" with a minimum length of 4, and the conference name "1".
	r := NewReader(unhex(t, "00447563610010"))
	key, err := r.ReadOctetStream(4)
	if err != nil || string(key) != "Duca" {
		t.Fatalf("ReadOctetStream = %q, %v", key, err)
	}
	name, err := r.ReadNumericString(1)
	if err != nil || name != "1" || !r.Empty() {
		t.Fatalf("ReadNumericString = %q, %v", name, err)
	}
	out, err := AppendOctetStream(nil, []byte("McDn"), 4)
	if err != nil || hex.EncodeToString(out) != "004d63446e" {
		t.Fatalf("AppendOctetStream = %x, %v", out, err)
	}
	for s, want := range map[string]string{"1": "0010", "12": "0112", "0123456789": "090123456789", "123": "021230"} {
		got, err := AppendNumericString(nil, s, 1)
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("AppendNumericString(%q) = %x, %v; want %s", s, got, err, want)
			continue
		}
		if back, err := NewReader(got).ReadNumericString(1); err != nil || back != s {
			t.Errorf("ReadNumericString(%x) = %q, %v", got, back, err)
		}
	}
	if _, err := AppendNumericString(nil, "", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty numeric string: err = %v", err)
	}
	if _, err := AppendNumericString(nil, "1a", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-digit: err = %v", err)
	}
	if _, err := AppendOctetStream(nil, []byte("abc"), 4); !errors.Is(err, ErrInvalid) {
		t.Errorf("short octet stream: err = %v", err)
	}
	for _, in := range []string{"001a", "0011", "01", "0044", "01a0", ""} {
		r := NewReader(unhex(t, in))
		if _, err := r.ReadNumericString(1); !errors.Is(err, ErrMalformed) || r.Offset() != 0 {
			t.Errorf("ReadNumericString(%s): err = %v, offset %d", in, err, r.Offset())
		}
	}
	if _, err := NewReader(unhex(t, "00447563")).ReadOctetStream(4); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadOctetStream cut: err = %v", err)
	}
	if _, err := NewReader(nil).ReadOctetStream(-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadOctetStream(-1): err = %v", err)
	}
	if _, err := NewReader([]byte{0}).ReadNumericString(-5); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadNumericString(-5): err = %v", err)
	}
}

// FuzzReader reads the input as a sequence of PER constructs chosen by a selector byte, and
// checks that every value read survives an append and read again.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01, 0x81, 0x58})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		for i := 0; !r.Empty() && i < 64; i++ {
			sel, _ := r.ReadByte()
			start := r.Offset()
			var err error
			switch sel % 7 {
			case 0:
				var n, size int
				if n, size, err = r.ReadLength(); err == nil {
					enc, aerr := AppendLengthSize(nil, n, size)
					if aerr != nil || !bytes.Equal(enc, b[start:r.Offset()]) {
						t.Fatalf("length %d/%d re-encoded as %x (%v), read from %x", n, size, enc, aerr, b[start:r.Offset()])
					}
				}
			case 1:
				var v uint32
				var size int
				if v, size, err = r.ReadInteger(); err == nil {
					enc := AppendIntegerSize(nil, v, size)
					if !bytes.Equal(enc, b[start:r.Offset()]) {
						t.Fatalf("integer %d/%d re-encoded as %x, read from %x", v, size, enc, b[start:r.Offset()])
					}
				}
			case 2:
				var v uint16
				if v, err = r.ReadInteger16(1001); err == nil {
					enc, aerr := AppendInteger16(nil, v, 1001)
					if aerr != nil || !bytes.Equal(enc, b[start:r.Offset()]) {
						t.Fatalf("integer16 %d re-encoded as %x (%v)", v, enc, aerr)
					}
				}
			case 3:
				var o ObjectIdentifier
				if o, err = r.ReadObjectIdentifier(); err == nil {
					enc, aerr := AppendObjectIdentifier(nil, o)
					if aerr != nil {
						// Only a single-subidentifier OID has fewer than two arcs after decoding;
						// decoding always yields at least two.
						t.Fatalf("AppendObjectIdentifier(%v): %v", o, aerr)
					}
					back, rerr := NewReader(enc).ReadObjectIdentifier()
					if rerr != nil || !back.Equal(o) {
						t.Fatalf("object identifier %v round trip: %v, %v", o, back, rerr)
					}
				}
			case 4:
				var s []byte
				if s, err = r.ReadOctetStream(4); err == nil {
					enc, aerr := AppendOctetStream(nil, s, 4)
					back, rerr := NewReader(enc).ReadOctetStream(4)
					if aerr != nil || rerr != nil || !bytes.Equal(back, s) {
						t.Fatalf("octet stream round trip: %x, %v, %v", back, aerr, rerr)
					}
				}
			case 5:
				var s string
				if s, err = r.ReadNumericString(1); err == nil {
					enc, aerr := AppendNumericString(nil, s, 1)
					back, rerr := NewReader(enc).ReadNumericString(1)
					if aerr != nil || rerr != nil || back != s {
						t.Fatalf("numeric string %q round trip: %q, %v, %v", s, back, aerr, rerr)
					}
				}
			case 6:
				_, err = r.ReadEnumerated(16)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				if r.Offset() != start {
					t.Fatalf("failed read moved the offset from %d to %d", start, r.Offset())
				}
				return
			}
		}
	})
}
