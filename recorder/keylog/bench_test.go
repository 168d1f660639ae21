package keylog

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/input"
)

// typingEvents is a user at work: a shell line with capitals and symbols, Enter, a chord and
// some pointer moves, as fast-path events.
func typingEvents(tb testing.TB) []input.Event {
	tb.Helper()
	scan := map[rune]string{}
	for _, k := range usPrintable {
		sc := strconv.FormatUint(uint64(k.sc), 16)
		scan[[]rune(k.base)[0]] = "~" + sc
		if k.shift != k.base {
			scan[[]rune(k.shift)[0]] = "+2A ~" + sc + " -2A"
		}
	}
	var script []string
	for _, r := range `grep -rn "Password: *" /etc/ssh | tee ~/Out.txt` {
		script = append(script, scan[r])
	}
	script = append(script, "~1C mouse mouse +1D ~2E -1D ~E48 ~1C")
	return scriptEvents(tb, strings.Join(script, " "))
}

func TestTypingEvents(t *testing.T) {
	want := `grep -rn "Password: *" /etc/ssh | tee ~/Out.txt<Enter>[Ctrl+C]<Up><Enter>`
	var d Decoder
	var entries []Entry
	for _, ev := range typingEvents(t) {
		if e, ok := d.Feed(t0, ev); ok {
			entries = append(entries, e)
		}
	}
	if got := render(entries); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func BenchmarkDecoder(b *testing.B) {
	events := typingEvents(b)
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range events {
			d.Feed(t0, ev)
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeWrite decodes and stores the log, the recorder's whole work per event.
func BenchmarkDecodeWrite(b *testing.B) {
	events := typingEvents(b)
	var d Decoder
	w := NewWriter(io.Discard)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range events {
			now = now.Add(20 * time.Millisecond)
			if e, ok := d.Feed(now, ev); ok {
				if err := w.WriteEntry(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkParse(b *testing.B) {
	var d Decoder
	var log []byte
	w := NewWriter(writerFunc(func(p []byte) (int, error) { log = append(log, p...); return len(p), nil }))
	now := t0
	for range 100 {
		for _, ev := range typingEvents(b) {
			now = now.Add(20 * time.Millisecond)
			if e, ok := d.Feed(now, ev); ok {
				if err := w.WriteEntry(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(strings.NewReader(string(log))); err != nil {
			b.Fatal(err)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
