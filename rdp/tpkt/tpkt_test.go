package tpkt

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadFrame(t *testing.T) {
	tests := map[string]struct {
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		"minimal frame":             {in: []byte{3, 0, 0, 4}, want: []byte{3, 0, 0, 4}},
		"frame with payload":        {in: []byte{3, 0, 0, 6, 0xAA, 0xBB, 0xCC}, want: []byte{3, 0, 0, 6, 0xAA, 0xBB}},
		"reserved byte kept":        {in: []byte{3, 7, 0, 5, 1}, want: []byte{3, 7, 0, 5, 1}},
		"at the limit":              {in: []byte{3, 0, 0, 5, 1}, max: 5, want: []byte{3, 0, 0, 5, 1}},
		"above the limit":           {in: []byte{3, 0, 0, 6, 1, 2}, max: 5, wantErr: ErrTooLarge},
		"bad version":               {in: []byte{2, 0, 0, 4}, wantErr: ErrVersion},
		"fast-path byte":            {in: []byte{0x44, 0x05, 0, 0}, wantErr: ErrVersion},
		"length below header":       {in: []byte{3, 0, 0, 3}, wantErr: ErrLength},
		"length zero":               {in: []byte{3, 0, 0, 0}, wantErr: ErrLength},
		"empty input":               {in: nil, wantErr: io.EOF},
		"two bytes":                 {in: []byte{3, 0}, wantErr: io.ErrUnexpectedEOF},
		"short body":                {in: []byte{3, 0, 0, 8, 1, 2}, wantErr: io.ErrUnexpectedEOF},
		"header only, body missing": {in: []byte{3, 0, 0, 5}, wantErr: io.ErrUnexpectedEOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tc.in), tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("frame = % x, want % x", got, tc.want)
			}
		})
	}
}

func TestReadFrameByteAtATime(t *testing.T) {
	in := []byte{3, 0, 0, 7, 1, 2, 3, 3, 0, 0, 4}
	r := iotest.OneByteReader(bytes.NewReader(in))
	f1, err := ReadFrame(r, 0)
	if err != nil || !bytes.Equal(f1, in[:7]) {
		t.Fatalf("first frame = % x, %v", f1, err)
	}
	f2, err := ReadFrame(r, 0)
	if err != nil || !bytes.Equal(f2, in[7:]) {
		t.Fatalf("second frame = % x, %v", f2, err)
	}
	if _, err := ReadFrame(r, 0); err != io.EOF {
		t.Fatalf("at end: err = %v, want io.EOF", err)
	}
}

func TestReadFrameReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadFrame(iotest.ErrReader(boom), 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapped boom", err)
	}
	_, err = ReadFrame(io.MultiReader(bytes.NewReader([]byte{3, 0, 0, 9, 1}), iotest.ErrReader(boom)), 0)
	if !errors.Is(err, boom) {
		t.Fatalf("body err = %v, want wrapped boom", err)
	}
}

func TestAppend(t *testing.T) {
	got, err := Append([]byte{0xFF}, []byte{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xFF, 3, 0, 0, 6, 1, 2}; !bytes.Equal(got, want) {
		t.Fatalf("Append = % x, want % x", got, want)
	}
	big := make([]byte, MaxPayloadLen)
	frame, err := Append(nil, big)
	if err != nil {
		t.Fatalf("largest payload: %v", err)
	}
	if n, err := FrameLength(frame); err != nil || n != MaxFrameLen || len(frame) != MaxFrameLen {
		t.Fatalf("largest frame: length %d (%v), len %d", n, err, len(frame))
	}
	if _, err := Append(nil, make([]byte, MaxPayloadLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized payload: err = %v, want ErrTooLarge", err)
	}
}

func TestPayload(t *testing.T) {
	p, err := Payload([]byte{3, 0, 0, 6, 9, 8})
	if err != nil || !bytes.Equal(p, []byte{9, 8}) {
		t.Fatalf("Payload = % x, %v", p, err)
	}
	for name, in := range map[string][]byte{
		"trailing byte": {3, 0, 0, 4, 0},
		"truncated":     {3, 0, 0, 6, 0},
		"short header":  {3, 0, 0},
		"nil":           nil,
		"bad version":   {4, 0, 0, 4},
	} {
		if _, err := Payload(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := map[byte]Kind{
		0x03: KindTPKT,
		0x00: KindFastPath,
		0x04: KindFastPath, // one input event, action 0
		0x44: KindFastPath,
		0x80: KindFastPath, // FASTPATH_INPUT_ENCRYPTED, action 0
		0x01: KindUnknown,
		0x02: KindUnknown,
		0x07: KindUnknown,
		0x17: KindUnknown,
		0xFF: KindUnknown,
	}
	for b, want := range tests {
		if got := Detect(b); got != want {
			t.Errorf("Detect(0x%02x) = %v, want %v", b, got, want)
		}
	}
}

func TestReadPDU(t *testing.T) {
	long := append([]byte{0x00, 0x81, 0x03}, make([]byte, 0x103-3)...)
	tests := map[string]struct {
		in       []byte
		max      int
		wantKind Kind
		wantLen  int
		wantErr  error
	}{
		"tpkt":                    {in: []byte{3, 0, 0, 5, 1, 0xEE}, wantKind: KindTPKT, wantLen: 5},
		"fast-path short length":  {in: []byte{0x44, 0x04, 1, 2, 0xEE}, wantKind: KindFastPath, wantLen: 4},
		"fast-path long length":   {in: long, wantKind: KindFastPath, wantLen: 0x103},
		"fast-path header only":   {in: []byte{0x00, 0x02}, wantKind: KindFastPath, wantLen: 2},
		"fast-path length 1":      {in: []byte{0x00, 0x01}, wantErr: ErrLength},
		"fast-path long, 2 bytes": {in: []byte{0x00, 0x80, 0x02}, wantErr: ErrLength},
		"fast-path over limit":    {in: long, max: 0x102, wantErr: ErrTooLarge},
		"unknown":                 {in: []byte{0x01, 0x02}, wantErr: ErrUnknownPDU},
		"empty":                   {in: nil, wantErr: io.EOF},
		"one byte":                {in: []byte{3}, wantErr: io.ErrUnexpectedEOF},
		"tpkt, 3 bytes":           {in: []byte{3, 0, 0}, wantErr: io.ErrUnexpectedEOF},
		"fast-path, long cut":     {in: []byte{0x00, 0x80}, wantErr: io.ErrUnexpectedEOF},
		"fast-path body cut":      {in: []byte{0x00, 0x05, 1}, wantErr: io.ErrUnexpectedEOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kind, pdu, err := ReadPDU(bytes.NewReader(tc.in), tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if kind != tc.wantKind || len(pdu) != tc.wantLen || !bytes.Equal(pdu, tc.in[:tc.wantLen]) {
				t.Fatalf("got %v, %d bytes; want %v, %d bytes", kind, len(pdu), tc.wantKind, tc.wantLen)
			}
		})
	}
}

func TestFastPathLength(t *testing.T) {
	if n, h, err := FastPathLength([]byte{0x00, 0xFF, 0xFF}); err != nil || n != MaxFastPathLen || h != 3 {
		t.Fatalf("FastPathLength = %d, %d, %v", n, h, err)
	}
	for name, in := range map[string][]byte{
		"nil":        nil,
		"one byte":   {0x00},
		"tpkt":       {0x03, 0x10},
		"long cut":   {0x00, 0x80},
		"too short":  {0x00, 0x80, 0x02},
		"zero short": {0x00, 0x00},
	} {
		if _, _, err := FastPathLength(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzReadFrame reads the input as a stream of PDUs with both readers; every frame returned must
// be consistent with its header and survive Append unchanged.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{3, 0, 0, 4})
	f.Add([]byte{0x44, 0x81, 0x00, 1, 2, 3})
	f.Add([]byte{3, 0, 0, 5, 1, 0x00, 0x03, 0xAA})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			frame, err := ReadFrame(r, 512)
			if err != nil {
				break
			}
			payload, err := Payload(frame)
			if err != nil {
				t.Fatalf("Payload of a frame ReadFrame returned: %v", err)
			}
			if len(frame) > 512 {
				t.Fatalf("frame of %d bytes above the limit", len(frame))
			}
			again, err := Append(nil, payload)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			// Append writes a zero reserved byte.
			if !bytes.Equal(again[:1], frame[:1]) || !bytes.Equal(again[2:], frame[2:]) {
				t.Fatalf("Append(Payload(f)) = % x, want % x", again, frame)
			}
		}
		r = bytes.NewReader(data)
		for {
			kind, pdu, err := ReadPDU(r, 0)
			if err != nil {
				break
			}
			switch kind {
			case KindTPKT:
				if _, err := Payload(pdu); err != nil {
					t.Fatalf("ReadPDU returned an invalid TPKT frame: %v", err)
				}
			case KindFastPath:
				n, _, err := FastPathLength(pdu)
				if err != nil || n != len(pdu) {
					t.Fatalf("ReadPDU returned a fast-path PDU of %d bytes, header says %d (%v)", len(pdu), n, err)
				}
			default:
				t.Fatalf("ReadPDU returned kind %v without error", kind)
			}
		}
	})
}
