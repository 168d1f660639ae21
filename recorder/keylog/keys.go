package keylog

import "fmt"

// keyKind says what pressing a key does.
type keyKind uint8

const (
	// kindUnknown keys are not in the layout: they are logged by scancode ("Scan7E").
	kindUnknown keyKind = iota
	// kindChar keys type a character (base, or shift with Shift).
	kindChar
	// kindNamed keys type no character: Enter, F1, Home...
	kindNamed
	// kindNumpad keys type a digit or "." with Num Lock on, and act as the navigation key nav
	// with Num Lock off.
	kindNumpad
	// kindModifier keys are Shift, Ctrl, Alt and Win.
	kindModifier
	// kindLock keys are Caps Lock, Num Lock and Scroll Lock.
	kindLock
	// kindIgnore keys are skipped altogether (E0 2A, the "fake shift" some keyboards add
	// around Print Screen and the navigation keys).
	kindIgnore
)

// modifier is a set of modifier groups, left and right keys together.
type modifier uint8

const (
	modShift modifier = 1 << iota
	modCtrl
	modAlt
	modWin

	// modChord are the modifiers that turn a key into a chord ("[Ctrl+C]") instead of text.
	modChord = modCtrl | modAlt | modWin
)

// Modifier names, in the order Entry.Modifiers lists them (the order of Windows' own key
// combination names: "Win+Shift+S", "Ctrl+Alt+Delete").
const (
	ModWin   = "Win"
	ModCtrl  = "Ctrl"
	ModAlt   = "Alt"
	ModShift = "Shift"
)

// modifierOrder pairs each modifier group with its name, in the order of Entry.Modifiers.
var modifierOrder = [...]struct {
	mod  modifier
	name string
}{{modWin, ModWin}, {modCtrl, ModCtrl}, {modAlt, ModAlt}, {modShift, ModShift}}

// lockKey is a set of toggle keys, with the bits of input.Sync* flags.
type lockKey uint8

const (
	lockScroll lockKey = 0x01 // input.SyncScrollLock
	lockNum    lockKey = 0x02 // input.SyncNumLock
	lockCaps   lockKey = 0x04 // input.SyncCapsLock
)

// keyDef is one key of the layout.
type keyDef struct {
	kind keyKind
	// name names the key in named entries and chords: "Enter", "C", "Num7", "Scan7E".
	name string
	// base and shift are the characters typed without and with Shift (kindChar), base the one
	// typed with Num Lock on (kindNumpad).
	base, shift string
	// letter keys have Shift inverted by Caps Lock.
	letter bool
	// nav is the name of a kindNumpad key with Num Lock off.
	nav string
	// mod is the group of a kindModifier key.
	mod modifier
	// lock is the toggle of a kindLock key.
	lock lockKey
}

func char(name, base, shift string) keyDef {
	return keyDef{kind: kindChar, name: name, base: base, shift: shift}
}

func letter(upper string) keyDef {
	lower := string(rune(upper[0]) + 'a' - 'A')
	return keyDef{kind: kindChar, name: upper, base: lower, shift: upper, letter: true}
}

func named(name string) keyDef { return keyDef{kind: kindNamed, name: name} }

func numpad(digit, nav string) keyDef {
	return keyDef{kind: kindNumpad, name: "Num" + digit, base: digit, nav: nav}
}

// operator is a keypad operator key: it types the same character with or without Shift and
// Num Lock.
func operator(c string) keyDef { return char("Num"+c, c, c) }

func mod(name string, m modifier) keyDef { return keyDef{kind: kindModifier, name: name, mod: m} }

func lock(name string, l lockKey) keyDef { return keyDef{kind: kindLock, name: name, lock: l} }

// usLayout maps scancodes (set 1, as RDP sends them) to keys: the US English layout (Windows
// KBDUS), where right Alt is a plain Alt. Index 0 is for keys without the E0 prefix (the
// event's Extended flag), index 1 for keys with it. Keys with the E1 prefix are handled by
// the Decoder (only Pause has one). The table is never written after initialisation.
var usLayout = func() (t [2][256]keyDef) {
	n := &t[0]
	for i, d := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "0"} {
		n[0x02+i] = char(d, d, "!@#$%^&*()"[i:i+1])
	}
	n[0x01] = named("Escape")
	n[0x0C] = char("-", "-", "_")
	n[0x0D] = char("=", "=", "+")
	n[0x0E] = named("Backspace")
	n[0x0F] = named("Tab")
	for i, c := range "QWERTYUIOP" {
		n[0x10+i] = letter(string(c))
	}
	n[0x1A] = char("[", "[", "{")
	n[0x1B] = char("]", "]", "}")
	n[0x1C] = named("Enter")
	n[0x1D] = mod("Ctrl", modCtrl)
	for i, c := range "ASDFGHJKL" {
		n[0x1E+i] = letter(string(c))
	}
	n[0x27] = char(";", ";", ":")
	n[0x28] = char("'", "'", `"`)
	n[0x29] = char("`", "`", "~")
	n[0x2A] = mod("Shift", modShift)
	n[0x2B] = char(`\`, `\`, "|")
	for i, c := range "ZXCVBNM" {
		n[0x2C+i] = letter(string(c))
	}
	n[0x33] = char(",", ",", "<")
	n[0x34] = char(".", ".", ">")
	n[0x35] = char("/", "/", "?")
	n[0x36] = mod("Shift", modShift)
	n[0x37] = operator("*")
	n[0x38] = mod("Alt", modAlt)
	n[0x39] = char("Space", " ", " ")
	n[0x3A] = lock("CapsLock", lockCaps)
	for i := range 10 {
		n[0x3B+i] = named(fmt.Sprintf("F%d", i+1))
	}
	n[0x45] = lock("NumLock", lockNum)
	n[0x46] = lock("ScrollLock", lockScroll)
	n[0x47] = numpad("7", "Home")
	n[0x48] = numpad("8", "Up")
	n[0x49] = numpad("9", "PageUp")
	n[0x4A] = operator("-")
	n[0x4B] = numpad("4", "Left")
	n[0x4C] = numpad("5", "Clear")
	n[0x4D] = numpad("6", "Right")
	n[0x4E] = operator("+")
	n[0x4F] = numpad("1", "End")
	n[0x50] = numpad("2", "Down")
	n[0x51] = numpad("3", "PageDown")
	n[0x52] = numpad("0", "Insert")
	n[0x53] = numpad(".", "Delete")
	n[0x54] = named("PrintScreen") // SysRq: what Alt+Print Screen sends
	n[0x56] = char(`\`, `\`, "|")  // the extra key of ISO keyboards
	n[0x57] = named("F11")
	n[0x58] = named("F12")
	for i := range 11 {
		n[0x64+i] = named(fmt.Sprintf("F%d", 13+i))
	}
	n[0x76] = named("F24")

	e := &t[1]
	e[0x10] = named("MediaPrev")
	e[0x19] = named("MediaNext")
	e[0x1C] = named("Enter") // keypad Enter
	e[0x1D] = mod("Ctrl", modCtrl)
	e[0x20] = named("VolumeMute")
	e[0x21] = named("LaunchApp2")
	e[0x22] = named("MediaPlayPause")
	e[0x24] = named("MediaStop")
	e[0x2A] = keyDef{kind: kindIgnore}
	e[0x2E] = named("VolumeDown")
	e[0x30] = named("VolumeUp")
	e[0x32] = named("BrowserHome")
	e[0x35] = operator("/")
	e[0x36] = mod("Shift", modShift) // some clients send right Shift with E0
	e[0x37] = named("PrintScreen")
	e[0x38] = mod("Alt", modAlt) // right Alt (AltGr): a plain Alt in the US layout
	e[0x45] = lock("NumLock", lockNum)
	e[0x46] = named("Break") // Ctrl+Pause
	e[0x47] = named("Home")
	e[0x48] = named("Up")
	e[0x49] = named("PageUp")
	e[0x4B] = named("Left")
	e[0x4D] = named("Right")
	e[0x4F] = named("End")
	e[0x50] = named("Down")
	e[0x51] = named("PageDown")
	e[0x52] = named("Insert")
	e[0x53] = named("Delete")
	e[0x5B] = mod("Win", modWin)
	e[0x5C] = mod("Win", modWin)
	e[0x5D] = named("Menu")
	e[0x5E] = named("Power")
	e[0x5F] = named("Sleep")
	e[0x63] = named("Wake")
	e[0x65] = named("BrowserSearch")
	e[0x66] = named("BrowserFavorites")
	e[0x67] = named("BrowserRefresh")
	e[0x68] = named("BrowserStop")
	e[0x69] = named("BrowserForward")
	e[0x6A] = named("BrowserBack")
	e[0x6B] = named("LaunchApp1")
	e[0x6C] = named("LaunchMail")
	e[0x6D] = named("LaunchMediaSelect")

	for ext, prefix := range []string{"Scan", "ScanE0"} {
		for sc := range t[ext] {
			if t[ext][sc].kind == kindUnknown {
				t[ext][sc].name = fmt.Sprintf("%s%02X", prefix, sc)
			}
		}
	}
	return t
}()

// modifierKeys are the layout's modifier keys, as Decoder.down indexes (scancode, plus 0x100
// with E0), with their groups.
var modifierKeys = func() (keys []modifierKey) {
	for ext := range usLayout {
		for sc, k := range usLayout[ext] {
			if k.kind == kindModifier {
				keys = append(keys, modifierKey{uint16(ext<<8 | sc), k.mod})
			}
		}
	}
	return keys
}()

type modifierKey struct {
	index uint16
	mod   modifier
}
