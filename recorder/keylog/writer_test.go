package keylog

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func text(d time.Duration, s string) Entry { return Entry{Time: at(d), Text: s} }

func key(d time.Duration, name string, mods ...string) Entry {
	return Entry{Time: at(d), Key: name, Modifiers: mods}
}

func TestWriter(t *testing.T) {
	const ms = time.Millisecond
	tests := map[string]struct {
		entries []Entry
		want    string
	}{
		"merge within the window": {
			entries: []Entry{text(0, "a"), text(1000*ms, "b"), text(3000*ms, "c"), text(5001*ms, "d"), key(5500*ms, "Enter")},
			want: `{"t":"2026-11-29T10:00:01.234Z","text":"abc"}
{"t":"2026-11-29T10:00:06.235Z","text":"d"}
{"t":"2026-11-29T10:00:06.734Z","key":"Enter"}
`,
		},
		"keys split runs": {
			entries: []Entry{text(0, "l"), text(100*ms, "s"), key(200*ms, "Tab", ModShift), text(300*ms, "-"),
				key(400*ms, "C", ModCtrl), key(500*ms, "Delete", ModCtrl, ModAlt), text(600*ms, "x")},
			want: `{"t":"2026-11-29T10:00:01.234Z","text":"ls"}
{"t":"2026-11-29T10:00:01.434Z","key":"Tab","mods":["Shift"]}
{"t":"2026-11-29T10:00:01.534Z","text":"-"}
{"t":"2026-11-29T10:00:01.634Z","key":"C","mods":["Ctrl"]}
{"t":"2026-11-29T10:00:01.734Z","key":"Delete","mods":["Ctrl","Alt"]}
{"t":"2026-11-29T10:00:01.834Z","text":"x"}
`,
		},
		"clock going back": {
			entries: []Entry{text(time.Second, "a"), text(0, "b")},
			want: `{"t":"2026-11-29T10:00:02.234Z","text":"a"}
{"t":"2026-11-29T10:00:01.234Z","text":"b"}
`,
		},
		"escapes": {
			entries: []Entry{text(0, `"\</script>`), text(ms, "\u2028é😀\u200b"), key(2*ms, `\`, ModCtrl), key(3*ms, `"`, ModAlt)},
			want: `{"t":"2026-11-29T10:00:01.234Z","text":"\"\\</script>\u2028é😀` + "\u200b" + `"}
{"t":"2026-11-29T10:00:01.236Z","key":"\\","mods":["Ctrl"]}
{"t":"2026-11-29T10:00:01.237Z","key":"\"","mods":["Alt"]}
`,
		},
		"time in UTC, truncated": {
			entries: []Entry{{Time: time.Date(2026, 11, 29, 11, 0, 1, 234_999_999, time.FixedZone("CET", 3600)), Key: "F1"}},
			want:    `{"t":"2026-11-29T10:00:01.234Z","key":"F1"}` + "\n",
		},
		"nothing": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			for _, e := range tc.entries {
				if err := w.WriteEntry(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// What is written is read back.
			got, err := Parse(strings.NewReader(buf.String()))
			if err != nil {
				t.Fatal(err)
			}
			var texts, keys []string
			for _, e := range tc.entries {
				if e.Text != "" {
					texts = append(texts, e.Text)
				} else {
					keys = append(keys, e.String())
				}
			}
			var gotTexts, gotKeys []string
			for _, e := range got {
				if e.Text != "" {
					gotTexts = append(gotTexts, e.Text)
				} else {
					gotKeys = append(gotKeys, e.String())
				}
			}
			if strings.Join(gotTexts, "") != strings.Join(texts, "") || !reflect.DeepEqual(gotKeys, keys) {
				t.Errorf("read back %+v", got)
			}
		})
	}
}

func TestWriterMaxTextRunes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range 600 {
		if err := w.WriteEntry(text(time.Duration(i)*time.Millisecond, "é")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var lens []int
	for _, e := range got {
		lens = append(lens, len([]rune(e.Text)))
	}
	if want := []int{MaxTextRunes, MaxTextRunes, 600 - 2*MaxTextRunes}; !reflect.DeepEqual(lens, want) {
		t.Errorf("record lengths %v, want %v", lens, want)
	}
	if !got[1].Time.Equal(at(MaxTextRunes * time.Millisecond)) {
		t.Errorf("second record at %v", got[1].Time)
	}
}

func TestWriterFlushIdle(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.FlushIdle(at(time.Hour)); err != nil || buf.Len() != 0 {
		t.Fatalf("nothing pending: %v %q", err, buf.String())
	}
	for _, e := range []Entry{text(0, "p"), text(time.Second, "w")} {
		if err := w.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.FlushIdle(at(time.Second + MergeWindow)); err != nil || buf.Len() != 0 {
		t.Fatalf("run may still grow: %v %q", err, buf.String())
	}
	if err := w.FlushIdle(at(time.Second + MergeWindow + time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if want := `{"t":"2026-11-29T10:00:01.234Z","text":"pw"}` + "\n"; buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	// A later character starts a new record, even within the window of the last.
	if err := w.WriteEntry(text(time.Second+time.Millisecond, "d")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("%d records:\n%s", got, buf.String())
	}
}

func TestWriterInvalid(t *testing.T) {
	tests := map[string]Entry{
		"empty":             {Time: t0},
		"text and key":      {Time: t0, Text: "a", Key: "A"},
		"mods with text":    {Time: t0, Text: "a", Modifiers: []string{ModCtrl}},
		"control character": {Time: t0, Text: "a\tb"},
		"C1 control":        {Time: t0, Text: "\u0085"},
		"bad UTF-8":         {Time: t0, Text: "\xff"},
		"long text":         {Time: t0, Text: strings.Repeat("a", MaxTextBytes+1)},
		"key with space":    {Time: t0, Key: "Page Up"},
		"key not ASCII":     {Time: t0, Key: "é"},
		"long key":          {Time: t0, Key: strings.Repeat("K", MaxKeyBytes+1)},
		"unknown modifier":  {Time: t0, Key: "A", Modifiers: []string{"AltGr"}},
		"modifier twice":    {Time: t0, Key: "A", Modifiers: []string{ModCtrl, ModCtrl}},
		"year 10000":        {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Key: "A"},
		"negative year":     {Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Key: "A"},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for name, e := range tests {
		if err := w.WriteEntry(e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// The Writer is still usable.
	if err := w.WriteEntry(key(0, "A", ModCtrl)); err != nil || buf.Len() == 0 {
		t.Errorf("after invalid entries: %v", err)
	}
	// Limits are inclusive.
	for _, e := range []Entry{{Time: t0, Text: strings.Repeat("a", MaxTextBytes)}, {Time: t0, Key: strings.Repeat("K", MaxKeyBytes)}} {
		if err := validate(e); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestWriterError(t *testing.T) {
	w := NewWriter(errWriter{})
	if err := w.WriteEntry(text(0, "a")); err != nil {
		t.Fatalf("a text is held back: %v", err)
	}
	err := w.WriteEntry(key(0, "Enter"))
	if !errors.Is(err, errBroken) {
		t.Fatalf("write error %v", err)
	}
	for _, f := range []func() error{
		func() error { return w.WriteEntry(key(0, "Enter")) },
		func() error { return w.WriteEntry(text(0, "b")) },
		w.Flush,
		func() error { return w.FlushIdle(at(time.Hour)) },
	} {
		if got := f(); !errors.Is(got, errBroken) {
			t.Errorf("after a write error: %v", got)
		}
	}
}

var errBroken = errors.New("broken pipe")

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errBroken }
