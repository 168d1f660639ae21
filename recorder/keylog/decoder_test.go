package keylog

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/input"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 1, 234_000_000, time.UTC)

// scriptEvents parses a test script of input events, separated by spaces:
//
//	+1E -1E    press, release of scancode 0x1E (hex, up to 16 bits)
//	+E1D       the same with the E0 prefix (Extended); +X1D with E1 (Extended1)
//	*1E        a slow-path press flagged as already down (WasDown)
//	~1E        +1E -1E
//	sync:6     synchronize event with these toggle flags (hex)
//	u:41 U:41  Unicode press, release of U+0041
//	mouse      a pointer move with the left button down
func scriptEvents(tb testing.TB, script string) []input.Event {
	tb.Helper()
	var events []input.Event
	for _, tok := range strings.Fields(script) {
		hex := func(s string) uint64 {
			v, err := strconv.ParseUint(s, 16, 32)
			if err != nil {
				tb.Fatalf("script token %q: %v", tok, err)
			}
			return v
		}
		switch {
		case tok == "mouse":
			events = append(events, input.Event{Source: input.FastPath, Kind: input.KindMouse,
				PointerFlags: input.PtrFlagsMove | input.PtrFlagsDown | input.PtrFlagsButton1, X: 10, Y: 20})
		case strings.HasPrefix(tok, "sync:"):
			events = append(events, input.Event{Source: input.FastPath, Kind: input.KindSync, SyncFlags: uint32(hex(tok[5:]))})
		case strings.HasPrefix(tok, "u:"), strings.HasPrefix(tok, "U:"):
			events = append(events, input.Event{Source: input.FastPath, Kind: input.KindUnicode,
				Unicode: rune(hex(tok[2:])), Released: tok[0] == 'U'})
		default:
			op, code := tok[0], tok[1:]
			e := input.Event{Source: input.FastPath, Kind: input.KindScancode}
			switch {
			case strings.HasPrefix(code, "E") && len(code) == 3:
				e.Extended, code = true, code[1:]
			case strings.HasPrefix(code, "X"):
				e.Extended1, code = true, code[1:]
			}
			e.Scancode = uint16(hex(code))
			switch op {
			case '+':
			case '-':
				e.Released = true
			case '*':
				e.Source, e.WasDown = input.SlowPath, true
			case '~':
				events = append(events, e)
				e.Released = true
			default:
				tb.Fatalf("script token %q", tok)
			}
			events = append(events, e)
		}
	}
	return events
}

// decodeScript feeds a script to a new Decoder, one event every 10 ms, and returns the entries.
func decodeScript(tb testing.TB, script string) []Entry {
	tb.Helper()
	var (
		d       Decoder
		entries []Entry
	)
	for i, ev := range scriptEvents(tb, script) {
		at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		if e, ok := d.Feed(at, ev); ok {
			if err := validate(e); err != nil {
				tb.Fatalf("event %d %+v: entry %+v cannot be stored: %v", i, ev, e, err)
			}
			if !e.Time.Equal(at) {
				tb.Fatalf("event %d: entry time %v, want %v", i, e.Time, at)
			}
			entries = append(entries, e)
		}
	}
	return entries
}

// render joins the String forms of entries.
func render(entries []Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.String())
	}
	return b.String()
}

// usPrintable is the US layout's character keys, written out apart from the layout table.
var usPrintable = []struct {
	sc          uint16
	base, shift string
}{
	{0x02, "1", "!"}, {0x03, "2", "@"}, {0x04, "3", "#"}, {0x05, "4", "$"}, {0x06, "5", "%"},
	{0x07, "6", "^"}, {0x08, "7", "&"}, {0x09, "8", "*"}, {0x0A, "9", "("}, {0x0B, "0", ")"},
	{0x0C, "-", "_"}, {0x0D, "=", "+"},
	{0x10, "q", "Q"}, {0x11, "w", "W"}, {0x12, "e", "E"}, {0x13, "r", "R"}, {0x14, "t", "T"},
	{0x15, "y", "Y"}, {0x16, "u", "U"}, {0x17, "i", "I"}, {0x18, "o", "O"}, {0x19, "p", "P"},
	{0x1A, "[", "{"}, {0x1B, "]", "}"},
	{0x1E, "a", "A"}, {0x1F, "s", "S"}, {0x20, "d", "D"}, {0x21, "f", "F"}, {0x22, "g", "G"},
	{0x23, "h", "H"}, {0x24, "j", "J"}, {0x25, "k", "K"}, {0x26, "l", "L"},
	{0x27, ";", ":"}, {0x28, "'", `"`}, {0x29, "`", "~"}, {0x2B, `\`, "|"},
	{0x2C, "z", "Z"}, {0x2D, "x", "X"}, {0x2E, "c", "C"}, {0x2F, "v", "V"}, {0x30, "b", "B"},
	{0x31, "n", "N"}, {0x32, "m", "M"},
	{0x33, ",", "<"}, {0x34, ".", ">"}, {0x35, "/", "?"}, {0x39, " ", " "}, {0x56, `\`, "|"},
}

func TestUSLayoutPrintable(t *testing.T) {
	covered := map[uint16]bool{}
	for _, k := range usPrintable {
		covered[k.sc] = true
		isLetter := k.base >= "a" && k.base <= "z" && len(k.base) == 1
		capsBase, capsShift := k.base, k.shift
		if isLetter {
			capsBase, capsShift = k.shift, k.base
		}
		key := strings.ToUpper(k.base)
		if k.sc == 0x39 {
			key = "Space"
		}
		sc := strconv.FormatUint(uint64(k.sc), 16)
		tests := []struct{ name, script, want string }{
			{"plain", "~" + sc, k.base},
			{"left shift", "+2A ~" + sc + " -2A", k.shift},
			{"right shift", "+36 ~" + sc + " -36", k.shift},
			{"caps lock", "sync:4 ~" + sc, capsBase},
			{"caps lock and shift", "sync:4 +2A ~" + sc, capsShift},
			{"caps lock pressed", "~3A ~" + sc, capsBase},
			{"released shift", "+2A -2A ~" + sc, k.base},
			{"ctrl", "+1D ~" + sc, Entry{Key: key, Modifiers: []string{ModCtrl}}.String()},
			{"ctrl shift", "+1D +2A ~" + sc, Entry{Key: key, Modifiers: []string{ModCtrl, ModShift}}.String()},
			{"altgr", "+E38 ~" + sc, Entry{Key: key, Modifiers: []string{ModAlt}}.String()},
		}
		for _, tc := range tests {
			entries := decodeScript(t, tc.script)
			var got string
			for _, e := range entries {
				if e.Key == "CapsLock" {
					continue
				}
				got += e.Text
				if e.Key != "" {
					got += e.String()
				}
			}
			if got != tc.want {
				t.Errorf("key 0x%02X, %s: got %q, want %q", k.sc, tc.name, got, tc.want)
			}
		}
	}
	for _, r := range [][2]uint16{{0x02, 0x0D}, {0x10, 0x1B}, {0x1E, 0x29}, {0x2B, 0x35}, {0x39, 0x39}} {
		for sc := r[0]; sc <= r[1]; sc++ {
			if !covered[sc] {
				t.Errorf("character key 0x%02X not tested", sc)
			}
		}
	}
}

func TestDecoder(t *testing.T) {
	tests := map[string]struct{ script, want string }{
		// Focus: FreeRDP and mstsc release Tab around the synchronize event.
		"focus tab releases": {"-0F sync:0 -0F -0F sync:0 -0F", ""},
		"release alone":      {"-1E -2A -E5B -X1D U:41", ""},
		"pointer ignored":    {"+2A mouse ~1E mouse", "A"},
		"shift order":        {"+2A ~1E -2A ~1E", "Aa"},
		"both shifts":        {"+2A +36 -2A ~1E -36 ~1E", "Aa"},
		"E0 right shift":     {"+E36 ~1E -E36 ~1E", "Aa"},
		"fake shift ignored": {"+E2A ~E47 -E2A ~1E", "<Home>a"},

		"numpad num lock on":    {"sync:2 ~47 ~48 ~49 ~4B ~4C ~4D ~4F ~50 ~51 ~52 ~53", "7894561230."},
		"numpad num lock off":   {"~47 ~48 ~49 ~4B ~4C ~4D ~4F ~50 ~51 ~52 ~53", "<Home><Up><PageUp><Left><Clear><Right><End><Down><PageDown><Insert><Delete>"},
		"num lock pressed":      {"~45 ~4F ~45 ~4F", "<NumLock>1<NumLock><End>"},
		"num lock shift":        {"sync:2 +2A ~47 ~53 -2A ~47", "<Home><Delete>7"},
		"num lock off shift":    {"+2A ~47", "<Shift+Home>"},
		"numpad operators":      {"~37 ~4A ~4E ~E35 ~E1C", "*-+/<Enter>"},
		"numpad operators num":  {"sync:2 +2A ~37 ~4A ~4E ~E35 ~E1C", "*-+/<Shift+Enter>"},
		"numpad chord":          {"sync:2 +1D ~47 ~4E", "[Ctrl+Num7][Ctrl+Num+]"},
		"numpad chord num off":  {"+1D +38 ~53", "[Ctrl+Alt+Delete]"},
		"extended navigation":   {"sync:2 ~E47 ~E48 ~E49 ~E4B ~E4D ~E4F ~E50 ~E51 ~E52 ~E53", "<Home><Up><PageUp><Left><Right><End><Down><PageDown><Insert><Delete>"},
		"function keys":         {"~3B ~3C ~3D ~3E ~3F ~40 ~41 ~42 ~43 ~44 ~57 ~58 ~64 ~6E ~76", "<F1><F2><F3><F4><F5><F6><F7><F8><F9><F10><F11><F12><F13><F23><F24>"},
		"named keys":            {"~01 ~0E ~0F ~1C ~E37 ~E5D ~46 ~E46", "<Escape><Backspace><Tab><Enter><PrintScreen><Menu><ScrollLock><Break>"},
		"shift named":           {"+2A ~0F ~1C ~3B", "<Shift+Tab><Shift+Enter><Shift+F1>"},
		"media keys":            {"~E20 ~E2E ~E30 ~E22 ~E6A", "<VolumeMute><VolumeDown><VolumeUp><MediaPlayPause><BrowserBack>"},
		"unknown keys":          {"~7E ~E5A ~X45 ~1E1", "<Scan7E><ScanE05A><ScanE145><Scan01E1>"},
		"sysrq":                 {"+38 ~54", "[Alt+PrintScreen]"},
		"pause":                 {"+X1D +45 -X1D -45 ~4F", "<Pause><End>"},
		"pause num lock on":     {"sync:2 +X1D +45 -X1D -45 ~4F", "<Pause>1"},
		"ctrl break":            {"+1D ~E46 -1D", "[Ctrl+Break]"},
		"ctrl c":                {"+1D ~2E -1D", "[Ctrl+C]"},
		"right ctrl":            {"+E1D ~2E -E1D ~2E", "[Ctrl+C]c"},
		"ctrl alt delete":       {"+1D +38 ~E53 -38 -1D", "[Ctrl+Alt+Delete]"},
		"ctrl shift escape":     {"+1D +2A ~01", "[Ctrl+Shift+Escape]"},
		"ctrl punctuation":      {"+1D ~0C ~1A ~39 ~02", "[Ctrl+-][Ctrl+[][Ctrl+Space][Ctrl+1]"},
		"ctrl shift digit":      {"+1D +2A ~02", "[Ctrl+Shift+1]"},
		"ctrl caps lock letter": {"sync:4 +1D ~1E", "[Ctrl+A]"},
		"win r":                 {"+E5B ~13 -E5B", "[Win+R]"},
		"win shift s":           {"+E5C +2A ~1F", "[Win+Shift+S]"},
		"win alone":             {"+E5B -E5B ~1E", "<Win>a"},
		"right win alone":       {"+E5C *E5C -E5C", "<Win>"},
		"win with shift":        {"+E5B +2A -2A -E5B", ""},
		"ctrl win":              {"+1D +E5B -E5B", "[Ctrl+Win]"},
		"alt tab":               {"+38 ~0F ~0F +2A ~0F -38", "[Alt+Tab][Alt+Tab][Alt+Shift+Tab]"},
		"altgr is alt":          {"+E38 ~10 -E38 ~10", "[Alt+Q]q"},
		"left and right alt":    {"+38 +E38 -E38 ~10 -38 ~10", "[Alt+Q]q"},
		"altgr release alone":   {"+E38 -38 ~10", "[Alt+Q]"},
		"ctrl alt is no altgr":  {"+1D +38 ~12", "[Ctrl+Alt+E]"},

		"repeat":                 {"+1E +1E +1E -1E", "aaa"},
		"repeat slow path":       {"*1E *1E -1E", "aa"},
		"repeat backspace":       {"+0E +0E *0E -0E", "<Backspace><Backspace><Backspace>"},
		"repeat chord":           {"+1D +2C +2C -2C", "[Ctrl+Z][Ctrl+Z]"},
		"repeat caps lock":       {"+3A +3A *3A -3A ~1E", "<CapsLock>A"},
		"repeat num lock":        {"sync:2 +45 +45 -45 ~47", "<NumLock><Home>"},
		"repeat shift":           {"+2A +2A *2A ~1E -2A ~1E", "Aa"},
		"caps lock twice":        {"~3A ~1E ~3A ~1E", "<CapsLock>A<CapsLock>a"},
		"caps lock digits":       {"~3A ~02 +2A ~02", "<CapsLock>1!"},
		"sync toggles":           {"sync:6 ~1E ~47 sync:0 ~1E ~47", "A7a<Home>"},
		"sync scroll kana":       {"sync:9 ~1E", "a"},
		"sync releases keys":     {"+1D sync:0 ~2E", "c"},
		"sync releases win":      {"+E5B sync:0 -E5B", ""},
		"shift caps lock":        {"+2A ~3A", "<Shift+CapsLock>"},
		"unicode":                {"u:41 U:41 u:E9 u:20AC u:20 u:3C", "Aé€ \\<"},
		"unicode surrogates":     {"u:D83D U:D83D u:DE00 U:DE00", "\U0001F600"},
		"unicode unpaired":       {"u:DE00 u:D83D u:41 u:D83D ~1E u:DE00", "Aa"},
		"unicode controls":       {"u:0D u:0A u:09 u:08 u:1B u:7F u:01 u:85", "<Enter><Enter><Tab><Backspace><Escape><Delete><U+0001><U+0085>"},
		"unicode format char":    {"u:200B", `\u200b`},
		"unicode ignores ctrl":   {"+1D u:63", "c"},
		"capture echo hello-rdp": {"-0F sync:0 -0F ~12 ~2E ~23 ~18 ~39 ~23 ~12 ~26 ~26 ~18 ~0C ~13 ~20 ~19 ~1C", "echo hello-rdp<Enter>"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := render(decodeScript(t, tc.script)); got != tc.want {
				t.Errorf("script %q:\ngot  %q\nwant %q", tc.script, got, tc.want)
			}
		})
	}
}

func TestDecoderEntries(t *testing.T) {
	var d Decoder
	tests := []struct {
		ev   input.Event
		want Entry
		ok   bool
	}{
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x1D}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x38}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x2A}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x53, Extended: true}, ok: true,
			want: Entry{Key: "Delete", Modifiers: []string{ModCtrl, ModAlt, ModShift}}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x2A, Released: true}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x1E}, ok: true,
			want: Entry{Key: "A", Modifiers: []string{ModCtrl, ModAlt}}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x1D, Released: true}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x38, Released: true}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x1E}, ok: true, want: Entry{Text: "a"}},
		{ev: input.Event{Kind: input.KindScancode, Scancode: 0x1C}, ok: true, want: Entry{Key: "Enter"}},
		{ev: input.Event{Kind: input.KindQoETimestamp, EventTime: 5}},
		{ev: input.Event{Kind: input.KindUnused}},
		{ev: input.Event{Kind: input.KindMouseX, PointerFlags: input.PtrFlagsDown | input.PtrXFlagsButton1}},
		{ev: input.Event{Kind: input.KindRelativeMouse, DX: 4}},
		{ev: input.Event{Kind: 0}},
		{ev: input.Event{Kind: input.KindUnicode, Unicode: 0x1F600}, ok: true, want: Entry{Text: "\U0001F600"}},
		{ev: input.Event{Kind: input.KindUnicode, Unicode: -1}},
		{ev: input.Event{Kind: input.KindUnicode, Unicode: 0x110000}},
	}
	for i, tc := range tests {
		at := t0.Add(time.Duration(i) * time.Second)
		got, ok := d.Feed(at, tc.ev)
		if tc.ok {
			tc.want.Time = at
		}
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("event %d %+v: got %+v %t, want %+v %t", i, tc.ev, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLayoutNames checks that every key name of the layout can be stored.
func TestLayoutNames(t *testing.T) {
	for ext := range usLayout {
		for sc, k := range usLayout[ext] {
			names := []string{k.name, k.nav}
			for _, n := range names {
				if n == "" {
					continue
				}
				if err := validate(Entry{Key: n}); err != nil {
					t.Errorf("key %d/0x%02X: %v", ext, sc, err)
				}
			}
			if k.kind == kindIgnore {
				continue
			}
			if k.name == "" {
				t.Errorf("key %d/0x%02X has no name", ext, sc)
			}
			if k.kind == kindNumpad && k.nav == "" {
				t.Errorf("keypad key 0x%02X has no navigation name", sc)
			}
		}
	}
}
