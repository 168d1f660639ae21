package keylog

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the captures' input events")

// inputGolden holds rdp/input's golden files: the client's fast-path PDUs of each capture,
// back to back, as extracted by rdp/input's capture test.
const inputGolden = "../../rdp/input/testdata/golden"

// pduInterval is the time between two PDUs of a capture in the golden tests: the captures'
// timestamps are not kept, and a typist's pace merges the typed line into one record.
const pduInterval = 150 * time.Millisecond

type timedEvent struct {
	t  time.Time
	ev input.Event
}

// captureEvents decodes the client's fast-path input PDUs of a capture.
func captureEvents(tb testing.TB, name string) []timedEvent {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(inputGolden, name+".c2s.fastpath.bin"))
	if err != nil {
		tb.Fatalf("read rdp/input golden file: %v", err)
	}
	var events []timedEvent
	r := bytes.NewReader(b)
	for i := 0; ; i++ {
		_, pdu, err := tpkt.ReadPDU(r, 0)
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			tb.Fatalf("%s PDU %d: %v", name, i, err)
		}
		evs, err := input.ParseFastPath(pdu)
		if err != nil {
			tb.Fatalf("%s PDU %d: %v", name, i, err)
		}
		for _, ev := range evs {
			events = append(events, timedEvent{t0.Add(time.Duration(i) * pduInterval), ev})
		}
	}
}

func TestGoldenCaptures(t *testing.T) {
	tests := map[string]string{
		// FreeRDP typed "echo hello-rdp" and Return into xrdp; on focus it sent Tab releases
		// and a synchronize event, twice, which are no keystrokes.
		"freerdp-xrdp-tls":              "echo hello-rdp<Enter>",
		"freerdp-rdpfile-routing-token": "",
		"freerdp-shadow-nla":            "",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			var (
				d       Decoder
				entries []Entry
				log     bytes.Buffer
			)
			w := NewWriter(&log)
			for _, te := range captureEvents(t, name) {
				e, ok := d.Feed(te.t, te.ev)
				if !ok {
					continue
				}
				if e.Key == "Tab" {
					t.Errorf("a Tab key at %v: focus-time releases taken for keystrokes", e.Time)
				}
				entries = append(entries, e)
				if err := w.WriteEntry(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := render(entries); got != want {
				t.Errorf("typed %q, want %q", got, want)
			}

			var text bytes.Buffer
			if err := RenderText(&text, bytes.NewReader(log.Bytes())); err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(bytes.NewReader(log.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if want == "" {
				if log.Len() != 0 || text.Len() != 0 || len(parsed) != 0 {
					t.Errorf("log %q, text %q, want none", log.Bytes(), text.Bytes())
				}
				return
			}
			checkGolden(t, name+".keys.jsonl", log.Bytes())
			checkGolden(t, name+".keys.txt", text.Bytes())
			// The whole line is one text record, at the time of its first key.
			if len(parsed) != 2 || parsed[0].Text != "echo hello-rdp" || parsed[1].Key != "Enter" ||
				!parsed[0].Time.Equal(entries[0].Time) || !parsed[1].Time.Equal(entries[len(entries)-1].Time) {
				t.Errorf("records %+v", parsed)
			}
		})
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s differs (%v); got:\n%s\nrun with -update if the change is intended", path, err, got)
	}
}
