package input

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/test/captures"
)

// keyLog renders keyboard events as "+12 -12" (press, release; hex scancodes, E for extended).
func keyLog(events []Event) string {
	var parts []string
	for _, e := range events {
		if e.Kind != KindScancode {
			continue
		}
		sign := "+"
		if e.Released {
			sign = "-"
		}
		ext := ""
		if e.Extended {
			ext = "E"
		}
		parts = append(parts, fmt.Sprintf("%s%s%02x", sign, ext, e.Scancode))
	}
	return strings.Join(parts, " ")
}

func decodeAll(t *testing.T, name string) []Event {
	t.Helper()
	var all []Event
	for i, p := range readGolden(t, name+".c2s.fastpath.bin") {
		events, err := ParseFastPath(p)
		if err != nil {
			t.Fatalf("%s PDU %d: %v", name, i, err)
		}
		// Encoding the events again yields the PDU's event bytes.
		fp, err := fastpath.ParseInput(p)
		if err != nil {
			t.Fatal(err)
		}
		var enc []byte
		for _, e := range events {
			if enc, err = AppendFastPathEvent(enc, e); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(enc, fp.Events) {
			t.Fatalf("%s PDU %d: events re-encoded as % x, want % x", name, i, enc, fp.Events)
		}
		if out, err := MarshalFastPath(events); err != nil || !bytes.Equal(out, p) {
			t.Fatalf("%s PDU %d: MarshalFastPath %v: % x", name, i, err, out)
		}
		all = append(all, events...)
	}
	return all
}

func TestGoldenFastPathInput(t *testing.T) {
	// On focus FreeRDP sends Tab up, a toggle-key sync (all off) and Tab up again, twice, with
	// a pointer move to the window centre.
	const focus = "-0f -0f"
	// "echo hello-rdp" + Return, each key pressed and released, no modifiers.
	const typed = "+12 -12 +2e -2e +23 -23 +18 -18 +39 -39 +23 -23 +12 -12 +26 -26 +26 -26 +18 -18 +0c -0c +13 -13 +20 -20 +19 -19 +1c -1c"
	tests := map[string]string{
		"freerdp-xrdp-tls":              focus + " " + focus + " " + typed,
		"freerdp-rdpfile-routing-token": focus + " " + focus,
		"freerdp-shadow-nla":            focus + " " + focus,
	}
	for _, name := range captures.Names {
		t.Run(name, func(t *testing.T) {
			events := decodeAll(t, name)
			if got := keyLog(events); got != tests[name] {
				t.Errorf("keys:\n%s\nwant\n%s", got, tests[name])
			}
			var syncs, moves int
			for _, e := range events {
				switch {
				case e.Kind == KindSync:
					syncs++
					if e.SyncFlags != 0 {
						t.Errorf("sync flags 0x%x", e.SyncFlags)
					}
				case e.Kind == KindMouse && e.Moved():
					moves++
				}
				if e.Source != FastPath || e.OtherFlags != 0 {
					t.Errorf("event %+v", e)
				}
			}
			if syncs != 2 || moves < 2 {
				t.Errorf("%d syncs, %d moves", syncs, moves)
			}
		})
	}
	// The click in the xrdp session: a move to (300,150), left button down, left button up.
	var mouse []string
	for _, e := range decodeAll(t, "freerdp-xrdp-tls") {
		if e.Kind != KindMouse {
			continue
		}
		b, down := e.Button()
		mouse = append(mouse, fmt.Sprintf("%d,%d/%t/%d/%t", e.X, e.Y, e.Moved(), b, down))
	}
	want := "640,400/true/0/false 640,400/true/0/false 300,150/true/0/false 300,150/false/1/true 300,150/false/1/false"
	if got := strings.Join(mouse, " "); got != want {
		t.Errorf("mouse:\n%s\nwant\n%s", got, want)
	}
}

func TestFastPathEventKinds(t *testing.T) {
	events := []Event{
		{Source: FastPath, Kind: KindScancode, Scancode: 0x1D, Extended: true},                             // right Ctrl down
		{Source: FastPath, Kind: KindScancode, Scancode: 0x1D, Extended1: true, Released: true},            // Pause
		{Source: FastPath, Kind: KindUnicode, Unicode: 0x20AC},                                             // €
		{Source: FastPath, Kind: KindUnicode, Unicode: 0xD834, Released: true},                             // high surrogate
		{Source: FastPath, Kind: KindMouse, PointerFlags: PtrFlagsWheel | 0x0078, X: 5, Y: 6},              // wheel +120
		{Source: FastPath, Kind: KindMouse, PointerFlags: PtrFlagsHWheel | PtrFlagsWheelNegative | 0x0188}, // hwheel -120
		{Source: FastPath, Kind: KindMouseX, PointerFlags: PtrFlagsDown | PtrXFlagsButton2, X: 1, Y: 2},
		{Source: FastPath, Kind: KindRelativeMouse, PointerFlags: PtrFlagsMove, DX: -5, DY: 7},
		{Source: FastPath, Kind: KindSync, SyncFlags: SyncNumLock | SyncCapsLock},
		{Source: FastPath, Kind: KindQoETimestamp, EventTime: 123456},
		{Source: FastPath, Kind: KindScancode, Scancode: 0x10, OtherFlags: 0x18},
	}
	b, err := MarshalFastPath(events)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseFastPath(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("got %+v\nwant %+v", got, events)
	}
	if d, h, ok := got[4].Wheel(); !ok || d != 120 || h {
		t.Errorf("wheel %d %t %t", d, h, ok)
	}
	if d, h, ok := got[5].Wheel(); !ok || d != -120 || !h {
		t.Errorf("hwheel %d %t %t", d, h, ok)
	}
	if b, down := got[6].Button(); b != ButtonX2 || !down {
		t.Errorf("x button %d %t", b, down)
	}
	if b, _ := got[7].Button(); b != NoButton || !got[7].Moved() {
		t.Errorf("relative move: button %d", b)
	}
	// More than 15 events need the numEvents byte.
	many := make([]Event, 20)
	for i := range many {
		many[i] = Event{Source: FastPath, Kind: KindScancode, Scancode: uint16(i)}
	}
	b, err = MarshalFastPath(many)
	if err != nil || b[0] != 0 || b[3] != 20 {
		t.Fatalf("20 events: %v % x", err, b[:4])
	}
	if got, err := ParseFastPath(b); err != nil || !reflect.DeepEqual(got, many) {
		t.Fatalf("20 events: %v", err)
	}
}

func TestFastPathErrors(t *testing.T) {
	tests := map[string]struct {
		in      []byte
		wantErr error
	}{
		"unknown event code":   {in: []byte{0x04, 0x03, 0xA0}, wantErr: ErrUnsupported},
		"truncated mouse":      {in: []byte{0x04, 0x05, 0x20, 0x00, 0x08}, wantErr: ErrMalformed},
		"too many events":      {in: []byte{0x08, 0x04, 0x00, 0x1E}, wantErr: ErrMalformed},
		"bytes after events":   {in: []byte{0x04, 0x05, 0x00, 0x1E, 0x60}, wantErr: ErrMalformed},
		"huge count, no bytes": {in: []byte{0x00, 0x03, 0xFF}, wantErr: ErrMalformed},
		"encrypted":            {in: []byte{0x84, 0x05, 0, 0, 0}, wantErr: ErrUnsupported},
		"bad length":           {in: []byte{0x04, 0x09, 0x00, 0x1E}, wantErr: ErrMalformed},
	}
	for name, tc := range tests {
		if _, err := ParseFastPath(tc.in); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.wantErr)
		}
	}
	for _, e := range []Event{
		{Kind: KindScancode, Scancode: 0x100},
		{Kind: KindSync, SyncFlags: 0x20},
		{Kind: KindUnicode, Unicode: 0x10000},
		{Kind: KindUnused},
		{Kind: 0},
		{Source: FastPath, Kind: KindMouse, OtherFlags: 0x20},
	} {
		if _, err := AppendFastPathEvent(nil, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", e, err)
		}
	}
	if _, err := MarshalFastPath(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no events: %v", err)
	}
}

// slowPathPDU wraps TS_INPUT_PDU_DATA in Share Control and Share Data headers.
func slowPathPDU(t *testing.T, data []byte, compressed uint8) []byte {
	t.Helper()
	p := &pdu.SharePDU{
		Control: pdu.ShareControlHeader{PDUType: uint16(pdu.PDUTypeData) | pdu.ProtocolVersion, PDUSource: 1007},
		Data: &pdu.ShareDataHeader{ShareID: 0x103EA, StreamID: pdu.StreamLow, UncompressedLength: uint16(len(data)),
			PDUType2: pdu.PDUType2Input, CompressedType: compressed},
		Payload: data,
	}
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSlowPath(t *testing.T) {
	events := []Event{
		{Source: SlowPath, Kind: KindSync, EventTime: 1, SyncFlags: SyncScrollLock | SyncKanaLock},
		{Source: SlowPath, Kind: KindScancode, EventTime: 2, Scancode: 0x1E},
		{Source: SlowPath, Kind: KindScancode, EventTime: 3, Scancode: 0x1E, WasDown: true},
		{Source: SlowPath, Kind: KindScancode, EventTime: 4, Scancode: 0x4B, Extended: true, Released: true},
		{Source: SlowPath, Kind: KindScancode, Scancode: 0x1D, Extended1: true, OtherFlags: 0x0001},
		{Source: SlowPath, Kind: KindUnicode, Unicode: 'ß', Released: true},
		{Source: SlowPath, Kind: KindMouse, PointerFlags: PtrFlagsDown | PtrFlagsButton2, X: 10, Y: 20},
		{Source: SlowPath, Kind: KindMouseX, PointerFlags: PtrXFlagsButton1, X: 10, Y: 20},
		{Source: SlowPath, Kind: KindRelativeMouse, PointerFlags: PtrFlagsMove, DX: 300, DY: -300},
		{Source: SlowPath, Kind: KindUnused, EventTime: 9},
	}
	data, err := MarshalSlowPath(events)
	if err != nil {
		t.Fatal(err)
	}
	// The scancode event, by hand: eventTime 2, INPUT_EVENT_SCANCODE, flags 0, key 0x1E, pad.
	if want := []byte{2, 0, 0, 0, 4, 0, 0, 0, 0x1E, 0, 0, 0}; !bytes.Equal(data[16:28], want) {
		t.Errorf("scancode event % x, want % x", data[16:28], want)
	}
	got, err := ParseSlowPathPDU(slowPathPDU(t, data, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("got %+v\nwant %+v", got, events)
	}
	if b, down := got[6].Button(); b != ButtonRight || !down {
		t.Errorf("button %d %t", b, down)
	}
	// Slow-path events re-encoded as fast-path lose what fast-path cannot carry.
	fp := []Event{got[1], got[3], got[5], got[6]}
	b, err := MarshalFastPath(fp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFastPath(b)
	if err != nil || keyLog(back) != "+1e -E4b" || back[2].Unicode != 'ß' || back[3].X != 10 {
		t.Fatalf("as fast-path: %v %+v", err, back)
	}

	bad := map[string]struct {
		in      []byte
		wantErr error
	}{
		"compressed":        {in: slowPathPDU(t, data, pdu.PacketCompressed|1), wantErr: ErrUnsupported},
		"not input":         {in: func() []byte { b := slowPathPDU(t, data, 0); b[14] = pdu.PDUType2Synchronize; return b }(), wantErr: ErrMalformed},
		"count past data":   {in: slowPathPDU(t, append([]byte{11, 0}, data[2:]...), 0), wantErr: ErrMalformed},
		"unknown type":      {in: slowPathPDU(t, append(append([]byte(nil), data[:8]...), append([]byte{0x07, 0x00}, data[10:]...)...), 0), wantErr: ErrUnsupported},
		"short header":      {in: slowPathPDU(t, []byte{1, 0}, 0), wantErr: ErrMalformed},
		"trailing PDU":      {in: append(slowPathPDU(t, data, 0), 0), wantErr: ErrMalformed},
		"broken share hdr":  {in: []byte{0x40, 0x00, 0x17}, wantErr: ErrMalformed},
		"flow control PDU":  {in: []byte{0x00, 0x80, 0x00, 0x41, 0, 0, 0, 0}, wantErr: ErrUnsupported},
		"no share data hdr": {in: []byte{0x06, 0x00, 0x16, 0x00, 0xEA, 0x03}, wantErr: ErrMalformed},
	}
	for name, tc := range bad {
		if _, err := ParseSlowPathPDU(tc.in); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.wantErr)
		}
	}
	// Extra bytes after the announced events are ignored.
	if got, err := ParseSlowPath(append(append([]byte(nil), data...), 1, 2, 3)); err != nil || len(got) != len(events) {
		t.Errorf("trailing bytes: %v", err)
	}
	if _, err := AppendSlowPathEvent(nil, Event{Kind: KindQoETimestamp}); !errors.Is(err, ErrInvalid) {
		t.Errorf("QoE as slow-path: %v", err)
	}
}

func TestKindString(t *testing.T) {
	for k := range Kind(10) {
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}
