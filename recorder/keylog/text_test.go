package keylog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEntryString(t *testing.T) {
	tests := []struct {
		e    Entry
		want string
	}{
		{Entry{Text: "echo hello-rdp"}, "echo hello-rdp"},
		{Entry{Text: "if [ -f x ]; then <y>"}, "if [ -f x ]; then <y>"},
		{Entry{Text: "<Enter>"}, `\<Enter>`},
		{Entry{Text: "[Ctrl+C]"}, `\[Ctrl+C]`},
		{Entry{Text: `C:\Users`}, `C:\\Users`},
		{Entry{Text: `\<`}, `\\<`},
		{Entry{Text: "a\tb\nc\rd\x00e\x7f\u0085"}, `a\tb\nc\rd\u0000e\u007f\u0085`},
		{Entry{Text: "\u202eevil\u200b\U000E0001"}, `\u202eevil\u200b\U000e0001`},
		{Entry{Text: "é 😀\u00a0\u3000"}, "é 😀\u00a0\u3000"},
		{Entry{Text: "\xff"}, "\uFFFD"},
		{Entry{Key: "Enter"}, "<Enter>"},
		{Entry{Key: "Tab", Modifiers: []string{ModShift}}, "<Shift+Tab>"},
		{Entry{Key: "C", Modifiers: []string{ModCtrl}}, "[Ctrl+C]"},
		{Entry{Key: "Delete", Modifiers: []string{ModCtrl, ModAlt}}, "[Ctrl+Alt+Delete]"},
		{Entry{Key: "R", Modifiers: []string{ModWin}}, "[Win+R]"},
		{Entry{Key: "S", Modifiers: []string{ModWin, ModShift}}, "[Win+Shift+S]"},
		{Entry{Key: "Win"}, "<Win>"},
		{Entry{Key: `\`, Modifiers: []string{ModCtrl}}, `[Ctrl+\\]`},
		{Entry{Key: "a\tb"}, `<a\tb>`},
		{Entry{}, ""},
	}
	for _, tc := range tests {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestAppendText(t *testing.T) {
	got := string(AppendText([]byte("> "), Entry{Time: at(0), Key: "C", Modifiers: []string{ModCtrl}}))
	if want := "> 2026-11-29T10:00:01.234Z\t[Ctrl+C]\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderText(t *testing.T) {
	in := `{"t":"2026-11-29T10:00:01.234Z","text":"echo hello-rdp"}
{"t":"2026-11-29T10:00:03.020Z","key":"Enter"}
{"t":"2026-11-29T10:00:05.500Z","key":"Tab","mods":["Shift"]}
{"t":"2026-11-29T10:00:07.000Z","key":"Delete","mods":["Ctrl","Alt"]}
{"t":"2026-11-29T10:00:08.000Z","text":"<b>\u200bx\\"}
`
	want := "2026-11-29T10:00:01.234Z\techo hello-rdp\n" +
		"2026-11-29T10:00:03.020Z\t<Enter>\n" +
		"2026-11-29T10:00:05.500Z\t<Shift+Tab>\n" +
		"2026-11-29T10:00:07.000Z\t[Ctrl+Alt+Delete]\n" +
		"2026-11-29T10:00:08.000Z\t\\<b>\\u200bx\\\\\n"
	var out bytes.Buffer
	if err := RenderText(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	// A malformed log is rendered up to the bad line.
	out.Reset()
	err := RenderText(&out, strings.NewReader(in+"{}\n"+in))
	if !errors.Is(err, ErrMalformed) || out.String() != want {
		t.Errorf("malformed log: %v\n%s", err, out.String())
	}
	if err := RenderText(errWriter{}, strings.NewReader(in)); !errors.Is(err, errBroken) {
		t.Errorf("write error: %v", err)
	}
}
