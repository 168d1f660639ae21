package keylog

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParse(t *testing.T) {
	in := "\n" + // blank lines are skipped
		`{"t":"2026-11-29T10:00:01.234Z","text":"echo hello-rdp"}` + "\n" +
		`{"t":"2026-11-29T10:00:03.020Z","key":"Enter","mods":[]}` + "\r\n" +
		"   \n" +
		`{"key":"Tab","mods":["Shift"],"t":"2026-11-29T10:00:05.5Z"}` + "\n" +
		`{"t":"2026-11-29T11:00:07+01:00","key":"Delete","mods":["Alt","Ctrl"],"pid":7,"extra":{"a":[1]}}` + "\n" +
		`{"t":"2026-11-29T10:00:08.123456789Z","text":"\u00e9\"\\ <x>","key":""}` // no final newline
	want := []Entry{
		{Time: at(0), Text: "echo hello-rdp"},
		{Time: at(1786 * time.Millisecond), Key: "Enter"},
		{Time: at(4266 * time.Millisecond), Key: "Tab", Modifiers: []string{ModShift}},
		{Time: at(5766 * time.Millisecond), Key: "Delete", Modifiers: []string{ModAlt, ModCtrl}},
		{Time: at(6889456789 * time.Nanosecond), Text: `é"\ <x>`},
	}
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, e := range got {
		if e.Time.Location() != time.UTC {
			t.Errorf("time %v not in UTC", e.Time)
		}
	}
	if got, err := Parse(strings.NewReader("")); err != nil || got != nil {
		t.Errorf("empty log: %v %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `{"t":"2026-11-29T10:00:01.234Z","text":"a"}` + "\n"
	tests := map[string]string{
		"not JSON":              `{"t":`,
		"array":                 `[1,2]`,
		"null":                  `null`,
		"string":                `"t"`,
		"no time":               `{"text":"a"}`,
		"time upper case":       `{"T":"2026-11-29T10:00:01Z","text":"a"}`,
		"time not RFC 3339":     `{"t":"2026-11-29 10:00:01","text":"a"}`,
		"time no zone":          `{"t":"2026-11-29T10:00:01","text":"a"}`,
		"time a number":         `{"t":1764410401,"text":"a"}`,
		"neither text nor key":  `{"t":"2026-11-29T10:00:01Z"}`,
		"both text and key":     `{"t":"2026-11-29T10:00:01Z","text":"a","key":"A"}`,
		"mods with text":        `{"t":"2026-11-29T10:00:01Z","text":"a","mods":["Ctrl"]}`,
		"unknown modifier":      `{"t":"2026-11-29T10:00:01Z","key":"A","mods":["Hyper"]}`,
		"modifier twice":        `{"t":"2026-11-29T10:00:01Z","key":"A","mods":["Ctrl","Ctrl"]}`,
		"mods not an array":     `{"t":"2026-11-29T10:00:01Z","key":"A","mods":"Ctrl"}`,
		"text a number":         `{"t":"2026-11-29T10:00:01Z","text":5}`,
		"control in text":       `{"t":"2026-11-29T10:00:01Z","text":"a\u0000b"}`,
		"newline in text":       `{"t":"2026-11-29T10:00:01Z","text":"a\nb"}`,
		"key with space":        `{"t":"2026-11-29T10:00:01Z","key":"Page Up"}`,
		"key too long":          `{"t":"2026-11-29T10:00:01Z","key":"` + strings.Repeat("K", MaxKeyBytes+1) + `"}`,
		"text too long":         `{"t":"2026-11-29T10:00:01Z","text":"` + strings.Repeat("a", MaxTextBytes+1) + `"}`,
		"line too long":         `{"t":"2026-11-29T10:00:01Z","text":"` + strings.Repeat(" ", maxLineBytes) + `"}`,
		"two objects on a line": `{"t":"2026-11-29T10:00:01Z","text":"a"} {"t":"2026-11-29T10:00:01Z","text":"a"}`,
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(ok + ok + bad + "\n" + ok))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), "line 3") {
				t.Errorf("err = %v, want the line number", err)
			}
			if len(got) != 2 {
				t.Errorf("%d records before the bad line, want 2", len(got))
			}
		})
	}
	// The Reader stops at the error.
	r := NewReader(strings.NewReader("x\n" + ok))
	_, err1 := r.Next()
	_, err2 := r.Next()
	if !errors.Is(err1, ErrMalformed) || err2 != err1 {
		t.Errorf("errors %v, %v", err1, err2)
	}
	// Read errors are not ErrMalformed.
	if _, err := Parse(io.MultiReader(strings.NewReader(ok), iotest.ErrReader(errBroken))); !errors.Is(err, errBroken) || errors.Is(err, ErrMalformed) {
		t.Errorf("read error: %v", err)
	}
}

func TestReaderEOF(t *testing.T) {
	r := NewReader(strings.NewReader(`{"t":"2026-11-29T10:00:01Z","key":"F1"}`))
	if e, err := r.Next(); err != nil || e.Key != "F1" {
		t.Fatalf("%+v %v", e, err)
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("after the last record: %v", err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	entries := []Entry{
		text(0, "ab"), key(time.Millisecond, "Enter"), key(2*time.Millisecond, "R", ModWin),
		key(3*time.Millisecond, "Delete", ModCtrl, ModAlt, ModShift), text(4*time.Millisecond, `[x] <y> \z "q" `+"\u200e\U0001F600"),
		key(5*time.Millisecond, "U+0001"), key(6*time.Millisecond, `\`, ModWin, ModCtrl, ModAlt, ModShift),
	}
	var buf []byte
	for _, e := range entries {
		buf = appendRecord(buf, e)
	}
	got, err := Parse(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("got  %+v\nwant %+v", got, entries)
	}
}
