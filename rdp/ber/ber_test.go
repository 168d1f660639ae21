package ber

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

func TestTags(t *testing.T) {
	tests := map[string]struct {
		tag Tag
		hex string
	}{
		"connect initial":  {Application(101), "7f65"},
		"connect response": {Application(102), "7f66"},
		"integer":          {Universal(TagInteger), "02"},
		"boolean":          {Universal(TagBoolean), "01"},
		"octet string":     {Universal(TagOctetString), "04"},
		"enumerated":       {Universal(TagEnumerated), "0a"},
		"sequence":         {Universal(TagSequence), "30"},
		"context 3":        {Tag{Class: ClassContext, Constructed: true, Number: 3}, "a3"},
		"application 30":   {Tag{Class: ClassApplication, Number: 30}, "5e"},
		"application 31":   {Tag{Class: ClassApplication, Number: 31}, "5f1f"},
		"private 128":      {Tag{Class: ClassPrivate, Number: 128}, "df8100"},
		"max":              {Tag{Class: ClassUniversal, Number: MaxTagNumber}, "1fffffff7f"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := AppendTag(nil, tc.tag)
			if err != nil {
				t.Fatalf("AppendTag: %v", err)
			}
			if hex.EncodeToString(got) != tc.hex {
				t.Fatalf("AppendTag = %x, want %s", got, tc.hex)
			}
			r := NewReader(unhex(t, tc.hex))
			back, err := r.ReadTag()
			if err != nil {
				t.Fatalf("ReadTag: %v", err)
			}
			if back != tc.tag || !r.Empty() {
				t.Fatalf("ReadTag = %+v (rest %d), want %+v", back, r.Len(), tc.tag)
			}
		})
	}
	if _, err := AppendTag(nil, Tag{Number: MaxTagNumber + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("tag number too large: err = %v", err)
	}
	if _, err := AppendTag(nil, Tag{Class: 0x01}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad class: err = %v", err)
	}
}

func TestReadTagMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"empty":               "",
		"cut":                 "7f",
		"cut continuation":    "7f81",
		"leading zero octet":  "7f8065",
		"low number in high":  "7f1e",
		"zero in high form":   "7f00",
		"more than 4 octets":  "7f8181818101",
		"continuation at end": "7fffffffff",
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(unhex(t, in))
			if _, err := r.ReadTag(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if r.Offset() != 0 {
				t.Fatalf("offset %d after a failed read, want 0", r.Offset())
			}
		})
	}
}

func TestLengths(t *testing.T) {
	tests := map[string]struct {
		hex        string
		n, size    int
		minimalHex string
	}{
		"short 0":            {"00", 0, 1, "00"},
		"short 127":          {"7f", 127, 1, "7f"},
		"long 128":           {"8180", 128, 2, "8180"},
		"long 455":           {"8201c7", 455, 3, "8201c7"},
		"non-minimal 5":      {"8105", 5, 2, "05"},
		"non-minimal 4 oct.": {"8400000161", 0x161, 5, "820161"},
		"long 4 octets":      {"847fffffff", 1<<31 - 1, 5, "847fffffff"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(unhex(t, tc.hex))
			n, size, err := r.ReadLength()
			if err != nil {
				t.Fatalf("ReadLength: %v", err)
			}
			if n != tc.n || size != tc.size || !r.Empty() {
				t.Fatalf("ReadLength = %d, %d (rest %d), want %d, %d", n, size, r.Len(), tc.n, tc.size)
			}
			same, err := AppendLengthSize(nil, n, size)
			if err != nil || hex.EncodeToString(same) != tc.hex {
				t.Fatalf("AppendLengthSize(%d, %d) = %x, %v; want %s", n, size, same, err, tc.hex)
			}
			minimal, err := AppendLength(nil, n)
			if err != nil || hex.EncodeToString(minimal) != tc.minimalHex {
				t.Fatalf("AppendLength(%d) = %x, %v; want %s", n, minimal, err, tc.minimalHex)
			}
		})
	}
	// A size that no longer fits grows; a short size with a long value uses the long form.
	if got, _ := AppendLengthSize(nil, 0x1234, 2); hex.EncodeToString(got) != "821234" {
		t.Errorf("AppendLengthSize(0x1234, 2) = %x", got)
	}
	if got, _ := AppendLengthSize(nil, 0x80, 1); hex.EncodeToString(got) != "8180" {
		t.Errorf("AppendLengthSize(0x80, 1) = %x", got)
	}
	if _, err := AppendLength(nil, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative length: err = %v", err)
	}
	for name, in := range map[string]string{
		"empty":      "",
		"indefinite": "80",
		"5 octets":   "850000000001",
		"cut":        "8201",
		"too large":  "8480000000",
	} {
		t.Run("malformed "+name, func(t *testing.T) {
			if _, _, err := NewReader(unhex(t, in)).ReadLength(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestIntegers(t *testing.T) {
	tests := map[int64]string{
		0:          "020100",
		1:          "020101",
		127:        "02017f",
		128:        "02020080",
		34:         "020122",
		1056:       "02020420",
		65535:      "020300ffff",
		64535:      "020300fc17",
		-1:         "0201ff",
		-128:       "020180",
		-129:       "0202ff7f",
		1 << 31:    "02050080000000",
		1<<63 - 1:  "02087fffffffffffffff",
		-(1 << 63): "02088000000000000000",
	}
	for v, want := range tests {
		got := AppendInteger(nil, v)
		if hex.EncodeToString(got) != want {
			t.Errorf("AppendInteger(%d) = %x, want %s", v, got, want)
			continue
		}
		back, err := NewReader(got).ReadInteger()
		if err != nil || back != v {
			t.Errorf("ReadInteger(%s) = %d, %v; want %d", want, back, err, v)
		}
	}
	if got := AppendEnumerated(nil, 0); hex.EncodeToString(got) != "0a0100" {
		t.Errorf("AppendEnumerated(0) = %x", got)
	}
	if got := AppendUnsigned(nil, 0xFFFFFFFF); hex.EncodeToString(got) != "020500ffffffff" {
		t.Errorf("AppendUnsigned(max) = %x", got)
	}
}

func TestReadUnsigned(t *testing.T) {
	ok := map[string]uint32{
		"020122":         34,
		"0202ffff":       65535, // mstsc's maxMCSPDUsize: no sign octet
		"020300ffff":     65535, // FreeRDP's
		"0204ffffffff":   0xFFFFFFFF,
		"020500ffffffff": 0xFFFFFFFF,
		"020100":         0,
	}
	for in, want := range ok {
		got, err := NewReader(unhex(t, in)).ReadUnsigned()
		if err != nil || got != want {
			t.Errorf("ReadUnsigned(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	if got, err := NewReader(unhex(t, "0a0102")).ReadEnumerated(); err != nil || got != 2 {
		t.Errorf("ReadEnumerated = %d, %v", got, err)
	}
	for _, in := range []string{"0200", "020501ffffffff", "02060000000000ff", "0a0100", "0201", ""} {
		r := NewReader(unhex(t, in))
		if _, err := r.ReadUnsigned(); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadUnsigned(%s): err = %v, want ErrMalformed", in, err)
		}
		if r.Offset() != 0 {
			t.Errorf("ReadUnsigned(%s): offset %d after failure", in, r.Offset())
		}
	}
	for _, in := range []string{"0200", "0209000000000000000001"} {
		if _, err := NewReader(unhex(t, in)).ReadInteger(); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadInteger(%s): err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestBooleanOctetStringSequence(t *testing.T) {
	for in, want := range map[string]bool{"0101ff": true, "010101": true, "010100": false} {
		got, err := NewReader(unhex(t, in)).ReadBoolean()
		if err != nil || got != want {
			t.Errorf("ReadBoolean(%s) = %t, %v", in, got, err)
		}
	}
	for _, in := range []string{"0100", "01020000", "0201ff"} {
		if _, err := NewReader(unhex(t, in)).ReadBoolean(); !errors.Is(err, ErrMalformed) {
			t.Errorf("ReadBoolean(%s): err = %v", in, err)
		}
	}
	if got := AppendBoolean(nil, true); hex.EncodeToString(got) != "0101ff" {
		t.Errorf("AppendBoolean(true) = %x", got)
	}

	os, err := AppendOctetString(nil, []byte{1})
	if err != nil || hex.EncodeToString(os) != "040101" {
		t.Fatalf("AppendOctetString = %x, %v", os, err)
	}
	seq, err := AppendElement(nil, Universal(TagSequence), append(AppendInteger(nil, 1), os...))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(append(seq, 0x05))
	inner, err := r.ReadSequence()
	if err != nil {
		t.Fatalf("ReadSequence: %v", err)
	}
	if v, err := inner.ReadInteger(); err != nil || v != 1 {
		t.Fatalf("ReadInteger in sequence = %d, %v", v, err)
	}
	if s, err := inner.ReadOctetString(); err != nil || !bytes.Equal(s, []byte{1}) || !inner.Empty() {
		t.Fatalf("ReadOctetString in sequence = %x, %v", s, err)
	}
	if r.Len() != 1 || !bytes.Equal(r.Rest(), []byte{5}) {
		t.Fatalf("rest = %x", r.Rest())
	}

	// Wrong tag, content longer than the input, primitive where constructed is expected.
	for _, in := range []string{"040100", "300500", "100100"} {
		r := NewReader(unhex(t, in))
		if _, err := r.ReadSequence(); !errors.Is(err, ErrMalformed) || r.Offset() != 0 {
			t.Errorf("ReadSequence(%s): err = %v, offset %d", in, err, r.Offset())
		}
	}
	if _, err := NewReader(nil).ReadBytes(1); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadBytes past the end: err = %v", err)
	}
	if _, err := NewReader(nil).ReadBytes(-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadBytes(-1): err = %v", err)
	}
}

// The header of the Connect Initial from the freerdp-xrdp-tls capture.
func TestConnectInitialHeader(t *testing.T) {
	b := unhex(t, "7f658201c704010104010101")
	b = append(b, make([]byte, 455-7)...)
	r := NewReader(b)
	h, body, err := r.ReadApplication(101)
	if err != nil {
		t.Fatalf("ReadApplication: %v", err)
	}
	want := Header{Tag: Application(101), Length: 455, LengthSize: 3, Size: 5}
	if h != want || !r.Empty() {
		t.Fatalf("header %+v, want %+v", h, want)
	}
	sel, err := body.ReadOctetString()
	if err != nil || !bytes.Equal(sel, []byte{1}) {
		t.Fatalf("callingDomainSelector = %x, %v", sel, err)
	}
	if _, _, err := NewReader(b).ReadApplication(102); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ReadApplication(102) on a 101: err = %v", err)
	}
	if tag, err := NewReader(b).PeekTag(); err != nil || tag != Application(101) {
		t.Fatalf("PeekTag = %v, %v", tag, err)
	}
	if Application(101).String() != "[APPLICATION 101]" || Universal(2).String() != "[UNIVERSAL 2]" {
		t.Fatalf("String: %s %s", Application(101), Universal(2))
	}
}

// walk reads every element of r, recursing into constructed ones, and checks that headers
// re-encode to the same bytes and that primitive values survive a round trip.
func walk(t *testing.T, r *Reader, depth int) {
	for !r.Empty() {
		start := r.Offset()
		raw := r.Rest()
		h, err := r.ReadHeader()
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if r.Offset() != start {
				t.Fatalf("failed ReadHeader moved the offset from %d to %d", start, r.Offset())
			}
			return
		}
		again, err := AppendTag(nil, h.Tag)
		if err != nil {
			t.Fatalf("AppendTag(%+v): %v", h.Tag, err)
		}
		again, err = AppendLengthSize(again, h.Length, h.LengthSize)
		if err != nil {
			t.Fatalf("AppendLengthSize: %v", err)
		}
		if !bytes.Equal(again, raw[:h.Size]) {
			t.Fatalf("header %x re-encoded as %x", raw[:h.Size], again)
		}
		content, err := r.ReadBytes(h.Length)
		if err != nil {
			t.Fatalf("ReadBytes of a checked length: %v", err)
		}
		elem := raw[:h.Size+h.Length]
		switch {
		case h.Tag.Constructed && depth < 16:
			walk(t, NewReader(content), depth+1)
		case h.Tag == Universal(TagInteger):
			if v, err := NewReader(elem).ReadInteger(); err == nil {
				if back, err := NewReader(AppendInteger(nil, v)).ReadInteger(); err != nil || back != v {
					t.Fatalf("integer %d round trip: %d, %v", v, back, err)
				}
			}
			if v, err := NewReader(elem).ReadUnsigned(); err == nil {
				if back, err := NewReader(AppendUnsigned(nil, v)).ReadUnsigned(); err != nil || back != v {
					t.Fatalf("unsigned %d round trip: %d, %v", v, back, err)
				}
			}
		case h.Tag == Universal(TagBoolean):
			if v, err := NewReader(elem).ReadBoolean(); err == nil {
				if back, err := NewReader(AppendBoolean(nil, v)).ReadBoolean(); err != nil || back != v {
					t.Fatalf("boolean %t round trip: %t, %v", v, back, err)
				}
			}
		case h.Tag == Universal(TagEnumerated):
			if v, err := NewReader(elem).ReadEnumerated(); err == nil {
				if back, err := NewReader(AppendEnumerated(nil, v)).ReadEnumerated(); err != nil || back != v {
					t.Fatalf("enumerated %d round trip: %d, %v", v, back, err)
				}
			}
		case h.Tag == Universal(TagOctetString):
			v, err := NewReader(elem).ReadOctetString()
			if err != nil {
				t.Fatalf("ReadOctetString of a checked element: %v", err)
			}
			enc, err := AppendOctetString(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := NewReader(enc).ReadOctetString(); err != nil || !bytes.Equal(back, v) {
				t.Fatalf("octet string round trip: %x, %v", back, err)
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x01, 0x01, 0xff})
	f.Add([]byte{0x7f, 0x66, 0x84, 0x00, 0x00, 0x00, 0x03, 0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		walk(t, NewReader(b), 0)
	})
}
