package preconnection

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, p := range []PDU{{Version: Version1, ID: 7}, {Version: Version2, ID: 0, PCB: "sc1.s-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAA"}, {Version: Version2, PCB: ""}, {Version: Version2, PCB: "ünïcødé"}} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if Starts(b[0]) != true {
			t.Fatalf("Starts(%#x) = false", b[0])
		}
		got, err := Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if *got != p {
			t.Fatalf("round trip %+v -> %+v", p, *got)
		}
	}
	if Starts(0x03) {
		t.Fatal("a TPKT frame was taken for a preconnection PDU")
	}
}

func TestRejects(t *testing.T) {
	good, _ := (&PDU{Version: Version2, PCB: "abc"}).Marshal()
	cases := map[string][]byte{
		"short":         good[:10],
		"size mismatch": append(append([]byte(nil), good...), 0),
		"flags":         func() []byte { b := append([]byte(nil), good...); b[4] = 1; return b }(),
		"version 3":     func() []byte { b := append([]byte(nil), good...); b[8] = 3; return b }(),
		"cch too big":   func() []byte { b := append([]byte(nil), good...); b[16] = 9; return b }(),
		"inner null":    func() []byte { b := append([]byte(nil), good...); b[18], b[19] = 0, 0; return b }(),
	}
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	huge := []byte{0xff, 0xff, 0xff, 0x7f}
	if _, err := Read(bytes.NewReader(huge)); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge size: %v", err)
	}
	if _, err := Read(bytes.NewReader(good[:20])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	v1, _ := (&PDU{Version: Version1, ID: 1}).Marshal()
	v2, _ := (&PDU{Version: Version2, PCB: "sc1.s-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAA"}).Marshal()
	f.Add(v1)
	f.Add(v2)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("parsed PDU does not marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil || *again != *p {
			t.Fatalf("round trip: %+v -> %+v, %v", p, again, err)
		}
	})
}
