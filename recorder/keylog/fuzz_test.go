package keylog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessionconnector/sessionconnector/rdp/input"
)

// fuzzEvents turns fuzz input into events, three bytes each: b0 chooses the kind (low 3 bits:
// 0-3 scancode, 4 Unicode, 5 sync, 6 mouse, 7 QoE) and the key flags (0x08 released, 0x10
// extended, 0x20 extended1, 0x40 was down); b1 and b2 are the scancode or UTF-16 code unit
// (a scancode above 0xFF only with kind 3); b2's low nibble also advances the clock by that
// many 300 ms, across the merge window.
func fuzzEvents(data []byte) []timedEvent {
	var events []timedEvent
	now := t0
	for ; len(data) >= 3; data = data[3:] {
		b0, b1, b2 := data[0], data[1], data[2]
		now = now.Add(time.Duration(b2&0x0F) * 300 * time.Millisecond)
		ev := input.Event{Source: input.SlowPath, Released: b0&0x08 != 0, Extended: b0&0x10 != 0,
			Extended1: b0&0x20 != 0, WasDown: b0&0x40 != 0}
		switch b0 & 0x07 {
		case 0, 1, 2:
			ev.Kind, ev.Scancode = input.KindScancode, uint16(b1)
		case 3:
			ev.Kind, ev.Scancode = input.KindScancode, uint16(b1)|uint16(b2)<<8
		case 4:
			ev.Kind, ev.Unicode = input.KindUnicode, rune(b1)|rune(b2)<<8
		case 5:
			ev = input.Event{Kind: input.KindSync, SyncFlags: uint32(b1)}
		case 6:
			ev = input.Event{Kind: input.KindMouse, PointerFlags: uint16(b1) << 8, X: uint16(b2)}
		case 7:
			ev = input.Event{Kind: input.KindQoETimestamp, EventTime: uint32(b1)}
		}
		events = append(events, timedEvent{now, ev})
	}
	return events
}

// fuzzSeed encodes key events the way fuzzEvents decodes them, 100 ms apart at most.
func fuzzSeed(events []input.Event) []byte {
	var b []byte
	for _, ev := range events {
		var b0 byte
		for _, f := range []struct {
			on  bool
			bit byte
		}{{ev.Released, 0x08}, {ev.Extended, 0x10}, {ev.Extended1, 0x20}, {ev.WasDown, 0x40}} {
			if f.on {
				b0 |= f.bit
			}
		}
		switch ev.Kind {
		case input.KindScancode:
			b = append(b, b0, byte(ev.Scancode), 0)
		case input.KindUnicode:
			b = append(b, b0|4, byte(ev.Unicode), byte(ev.Unicode>>8))
		case input.KindSync:
			b = append(b, 5, byte(ev.SyncFlags), 0)
		default:
			b = append(b, 6, 0x08, 0)
		}
	}
	return b
}

func FuzzDecoder(f *testing.F) {
	var capture []input.Event
	for _, te := range captureEvents(f, "freerdp-xrdp-tls") {
		capture = append(capture, te.ev)
	}
	f.Add(fuzzSeed(capture))
	for _, script := range []string{
		"sync:2 +2A ~47 ~53 -2A ~47 +X1D +45 -X1D -45",
		"+1D +38 ~E53 -38 -1D +E5B -E5B +E38 ~10",
		"u:D83D u:DE00 u:0D u:85 +1E +1E *1E -1E ~3A ~1E",
	} {
		f.Add(fuzzSeed(scriptEvents(f, script)))
	}
	f.Add([]byte{0x03, 0xFF, 0xFF, 0x24, 0x00, 0xD8, 0x04, 0x00, 0xDC, 0x00, 0x1E, 0x0F, 0x00, 0x1E, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			d       Decoder
			entries []Entry
			log     bytes.Buffer
		)
		w := NewWriter(&log)
		for i, te := range fuzzEvents(data) {
			e, ok := d.Feed(te.t, te.ev)
			if !ok {
				continue
			}
			if err := validate(e); err != nil {
				t.Fatalf("event %d %+v: entry %+v cannot be stored: %v", i, te.ev, e, err)
			}
			if !e.Time.Equal(te.t) || len(e.Text) > utf8.UTFMax || len(e.Modifiers) > len(modifierOrder) {
				t.Fatalf("event %d %+v: entry %+v", i, te.ev, e)
			}
			entries = append(entries, e)
			if err := w.WriteEntry(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		// Bounded output: a record of the longest key with every modifier is under 128 bytes.
		if log.Len() > 128*len(entries) {
			t.Fatalf("%d bytes of log for %d entries", log.Len(), len(entries))
		}
		records, err := Parse(bytes.NewReader(log.Bytes()))
		if err != nil {
			t.Fatalf("log written cannot be read: %v\n%s", err, log.Bytes())
		}
		// The records hold the same keys in the same order, and the same characters.
		var wantText, gotText strings.Builder
		var wantKeys, gotKeys []string
		for _, e := range entries {
			wantText.WriteString(e.Text)
			if e.Key != "" {
				wantKeys = append(wantKeys, e.String())
			}
		}
		for _, e := range records {
			gotText.WriteString(e.Text)
			if e.Key != "" {
				gotKeys = append(gotKeys, e.String())
			}
		}
		if gotText.String() != wantText.String() || strings.Join(gotKeys, " ") != strings.Join(wantKeys, " ") {
			t.Fatalf("read back %q %q, want %q %q", gotText.String(), gotKeys, wantText.String(), wantKeys)
		}
		var text bytes.Buffer
		if err := RenderText(&text, bytes.NewReader(log.Bytes())); err != nil || bytes.Count(text.Bytes(), []byte("\n")) != len(records) {
			t.Fatalf("text form: %v\n%s", err, text.Bytes())
		}
	})
}

func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden", "freerdp-xrdp-tls.keys.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"t":"2026-11-29T11:00:07.5+01:00","key":"Delete","mods":["Ctrl","Alt"],"x":[{}]}` + "\r\n\n" +
		`{"t":"2026-11-29T10:00:08Z","text":"<\u200b\\\"é"}`))
	f.Add([]byte(`{"t":"0000-01-01T00:00:00Z","key":"U+0001","text":""}` + "\n" + `{"t":"9999-12-31T23:59:59.999999999Z","text":"\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Parse(bytes.NewReader(data))
		if err != nil && len(entries) > bytes.Count(data, []byte("\n")) {
			t.Fatalf("%d records before an error in %d lines", len(entries), bytes.Count(data, []byte("\n")))
		}
		var again []byte
		for _, e := range entries {
			if err := validate(e); err != nil {
				t.Fatalf("record %+v read but invalid: %v", e, err)
			}
			again = appendRecord(again, e)
			line := AppendText(nil, e)
			if i := bytes.IndexByte(line, '\t'); i != len(timeLayout) || bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("text line %q", line)
			}
			for _, c := range line[len(timeLayout)+1 : len(line)-1] {
				if c < 0x20 || c == 0x7F {
					t.Fatalf("control byte in text line %q", line)
				}
			}
		}
		// What was read is written again in the canonical form, and read back the same, but
		// for times beyond the millisecond.
		back, err := Parse(bytes.NewReader(again))
		if err != nil || len(back) != len(entries) {
			t.Fatalf("rewritten log: %v, %d records of %d\n%s", err, len(back), len(entries), again)
		}
		for i, e := range entries {
			e.Time = e.Time.Truncate(time.Millisecond)
			if b := back[i]; !b.Time.Equal(e.Time) || b.Text != e.Text || b.Key != e.Key || strings.Join(b.Modifiers, "+") != strings.Join(e.Modifiers, "+") {
				t.Fatalf("record %d: %+v read back as %+v", i, e, b)
			}
		}
	})
}
