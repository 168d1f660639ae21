package fastpath

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

func TestGoldenFastPathOutput(t *testing.T) {
	// Update codes seen in each capture, with how many were bulk-compressed.
	tests := map[string]map[string]string{
		// xrdp sends pointer shapes through fast-path, MPPC-compressed; its graphics go
		// through slow-path Update PDUs (see rdp/pdu). The Synchronize update has the
		// compression field set but PACKET_COMPRESSED clear.
		"freerdp-xrdp-tls":              {"Synchronize": "1 of 1 compressed-field, 0 compressed", "Pointer": "3 of 3 compressed-field, 3 compressed"},
		"freerdp-rdpfile-routing-token": {"Synchronize": "1 of 1 compressed-field, 0 compressed", "Pointer": "2 of 2 compressed-field, 2 compressed"},
		// FreeRDP's shadow server answers a RemoteFX-capable client with surface commands.
		"freerdp-shadow-nla": {"SurfCmds": "0 of 1 compressed-field, 0 compressed"},
	}
	for _, name := range captures.Names {
		t.Run(name, func(t *testing.T) {
			type tally struct{ n, field, compressed int }
			seen := map[string]*tally{}
			for i, pdu := range readGolden(t, name+".s2c.fastpath.bin") {
				p, err := ParseOutput(pdu)
				if err != nil {
					t.Fatalf("PDU %d: %v", i, err)
				}
				out, err := p.Marshal()
				if err != nil || !bytes.Equal(out, pdu) {
					t.Fatalf("PDU %d: re-marshal %v\n% x\nwant\n% x", i, err, out, pdu)
				}
				if !p.LongLength || p.Flags != 0 || p.Reserved != 0 {
					t.Errorf("PDU %d header: %+v", i, p)
				}
				for _, u := range p.Updates {
					t.Logf("PDU %d: %s fragmentation %d compression %d flags 0x%02x, %d bytes", i, u.Name(),
						u.Fragmentation, u.Compression, u.CompressionFlags, len(u.Data))
					ta := seen[u.Name()]
					if ta == nil {
						ta = &tally{}
						seen[u.Name()] = ta
					}
					ta.n++
					if u.Compression == CompressionUsed {
						ta.field++
					}
					if u.Compressed() {
						ta.compressed++
					}
				}
			}
			got := map[string]string{}
			for k, v := range seen {
				got[k] = fmt.Sprintf("%d of %d compressed-field, %d compressed", v.field, v.n, v.compressed)
			}
			if !reflect.DeepEqual(got, tests[name]) {
				t.Errorf("updates = %v\nwant %v", got, tests[name])
			}
		})
	}
}

func TestGoldenFastPathInputHeaders(t *testing.T) {
	for _, name := range captures.Names {
		pdus := readGolden(t, name+".c2s.fastpath.bin")
		if len(pdus) == 0 {
			t.Fatalf("%s: no fast-path input", name)
		}
		for i, pdu := range pdus {
			p, err := ParseInput(pdu)
			if err != nil {
				t.Fatalf("%s PDU %d: %v", name, i, err)
			}
			// FreeRDP always uses the 2-byte length and the header's event count.
			if !p.LongLength || p.CountByte || p.Flags != 0 || p.NumEvents < 1 {
				t.Errorf("%s PDU %d: %+v", name, i, p)
			}
			out, err := p.Marshal()
			if err != nil || !bytes.Equal(out, pdu) {
				t.Fatalf("%s PDU %d: re-marshal %v", name, i, err)
			}
		}
	}
}

func TestParseInputCases(t *testing.T) {
	tests := map[string]struct {
		in      []byte
		want    *InputPDU
		wantErr error
	}{
		"short length":       {in: []byte{0x04, 0x04, 0x00, 0x1E}, want: &InputPDU{NumEvents: 1, Events: []byte{0x00, 0x1E}}},
		"long length":        {in: []byte{0x04, 0x80, 0x05, 0x00, 0x1E}, want: &InputPDU{NumEvents: 1, LongLength: true, Events: []byte{0x00, 0x1E}}},
		"count byte":         {in: []byte{0x00, 0x05, 0x01, 0x00, 0x1E}, want: &InputPDU{NumEvents: 1, CountByte: true, Events: []byte{0x00, 0x1E}}},
		"zero events":        {in: []byte{0x00, 0x03, 0x00}, want: &InputPDU{CountByte: true}},
		"checksum flag kept": {in: []byte{0x44, 0x03, 0x60}, want: &InputPDU{Flags: FlagSecureChecksum, NumEvents: 1, Events: []byte{0x60}}},
		"count byte missing": {in: []byte{0x00, 0x02}, wantErr: ErrMalformed},
		"encrypted":          {in: []byte{0x84, 0x0B, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wantErr: ErrUnsupported},
		"length too long":    {in: []byte{0x04, 0x05, 0x00, 0x1E}, wantErr: ErrMalformed},
		"length too short":   {in: []byte{0x04, 0x03, 0x00, 0x1E}, wantErr: ErrMalformed},
		"length below hdr":   {in: []byte{0x04, 0x80, 0x02}, wantErr: ErrMalformed},
		"tpkt byte":          {in: []byte{0x03, 0x00, 0x00, 0x04}, wantErr: ErrMalformed},
		"empty":              {in: nil, wantErr: ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ParseInput(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) == 0 {
				p.Events = nil
			}
			if !reflect.DeepEqual(p, tc.want) {
				t.Fatalf("got %+v, want %+v", p, tc.want)
			}
			out, err := p.Marshal()
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("re-marshal %v: % x", err, out)
			}
		})
	}
}

func TestMarshalLengthForms(t *testing.T) {
	// 125 bytes of events: 2+125 = 127 fits the short form; 126 do not.
	for n, wantLong := range map[int]bool{125: false, 126: true, MaxLength - 3: true} {
		p := &InputPDU{NumEvents: 1, Events: make([]byte, n)}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		again, err := ParseInput(out)
		if err != nil || again.LongLength != wantLong || len(again.Events) != n {
			t.Fatalf("%d bytes: %v, long %t", n, err, again.LongLength)
		}
	}
	for _, p := range []*InputPDU{
		{NumEvents: 1, Events: make([]byte, MaxLength-2)},
		{NumEvents: 16},
		{NumEvents: 0},
		{NumEvents: 256, CountByte: true},
		{NumEvents: 1, Flags: 4},
		{NumEvents: 1, Flags: FlagEncrypted},
	} {
		if _, err := p.Marshal(); err == nil {
			t.Errorf("%+v marshalled", p)
		}
	}
	o := &OutputPDU{Updates: []Update{{Code: UpdateBitmap, Data: make([]byte, MaxLength)}}}
	if _, err := o.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized output: %v", err)
	}
	o = &OutputPDU{Updates: []Update{{Code: UpdateBitmap, CompressionFlags: PacketCompressed}}}
	if _, err := o.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("compressionFlags without the compression field: %v", err)
	}
}

func TestParseOutputCases(t *testing.T) {
	in := []byte{0x00, 0x80, 0x13,
		0x03, 0x00, 0x00, // synchronize, empty
		0x21, 0x02, 0x00, 0xAA, 0xBB, // bitmap, first fragment
		0x8B, 0x21, 0x01, 0x00, 0xCC, // pointer, compressed
		0x1F, 0x00, 0x00, // unknown code 0xF, last fragment
	}
	p, err := ParseOutput(in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range p.Updates {
		names = append(names, fmt.Sprintf("%s/%d/%t", u.Name(), u.Fragmentation, u.Compressed()))
	}
	if got := strings.Join(names, " "); got != "Synchronize/0/false Bitmap/2/false Pointer/0/true update 0xf/1/false" {
		t.Errorf("updates: %s", got)
	}
	out, err := p.Marshal()
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-marshal %v: % x", err, out)
	}
	for n := 3; n < len(in); n++ {
		cut := append([]byte{0x00, byte(n)}, in[3:n]...)
		cut[1] = byte(len(cut))
		if _, err := ParseOutput(cut); err == nil && n != 3 && n != 6 && n != 11 && n != 16 {
			t.Errorf("update list cut at %d accepted", n)
		}
	}
	if _, err := ParseOutput([]byte{0x80, 0x02}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("encrypted: %v", err)
	}
	if p, err := ParseOutput([]byte{0x3C, 0x02}); err != nil || p.Reserved != 0xF || len(p.Updates) != 0 {
		t.Errorf("reserved bits: %+v %v", p, err)
	}
}

func TestDefragmenter(t *testing.T) {
	d := NewDefragmenter(5)
	steps := []struct {
		u       Update
		ok      bool
		data    string
		wantErr error
	}{
		{u: Update{Code: UpdateBitmap, Data: []byte("ab")}, ok: true, data: "ab"},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentFirst, Data: []byte("ab")}},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentNext, Data: []byte("c")}},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentLast, Data: []byte("de")}, ok: true, data: "abcde"},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentFirst, Data: []byte("abc")}},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentLast, Data: []byte("def")}, wantErr: ErrMalformed},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentLast, Data: []byte("x")}, wantErr: ErrMalformed},
		{u: Update{Code: UpdateOrders, Fragmentation: FragmentFirst}},
		{u: Update{Code: UpdateBitmap, Fragmentation: FragmentLast}, wantErr: ErrMalformed},
		{u: Update{Code: UpdateOrders, Fragmentation: FragmentFirst}},
		{u: Update{Code: UpdateOrders}, wantErr: ErrMalformed},
		{u: Update{Code: UpdatePointer, Compression: CompressionUsed, CompressionFlags: PacketCompressed}, wantErr: ErrUnsupported},
		{u: Update{Code: UpdatePointer, Compression: CompressionUsed, Data: []byte("p")}, ok: true, data: "p"},
	}
	for i, s := range steps {
		whole, ok, err := d.Add(s.u)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
			}
			continue
		}
		if err != nil || ok != s.ok || (ok && string(whole.Data) != s.data) {
			t.Fatalf("step %d: %q %t %v", i, whole.Data, ok, err)
		}
	}
	var zero Defragmenter
	if _, _, err := zero.Add(Update{Fragmentation: FragmentFirst, Data: make([]byte, DefaultMaxUpdateSize+1)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero value limit: %v", err)
	}
}

func TestSortedUpdateNames(t *testing.T) {
	var names []string
	for c := range uint8(16) {
		names = append(names, UpdateName(c))
	}
	sort.Strings(names)
	if len(names) != 16 || names[0] == "" {
		t.Fatal(names)
	}
}
