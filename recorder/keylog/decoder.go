package keylog

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sessionconnector/sessionconnector/rdp/input"
)

// Decoder turns a client's keyboard events into entries. Feed it every event the client sends,
// in order: it follows the keys held down, the modifiers and the toggle keys (see the package
// documentation for the rules). The zero Decoder is ready to use, with no key held and the
// toggle keys off until the client's first synchronize event. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	// down has a bit per key held down, indexed by scancode plus 0x100 for E0 keys.
	down [512 / 64]uint64
	// locks are the toggle keys that are on.
	locks lockKey
	// pauseDown is set while Pause (E1 1D) is down: the 45 that follows is part of it.
	pauseDown bool
	// winAlone is set while a Win key is down and no other key was pressed since.
	winAlone bool
	// highSurrogate is the first half of a Unicode character outside the BMP, or 0.
	highSurrogate rune
}

// Feed decodes one event the client sent at time t and returns the entry it makes, if any.
// Key presses make at most one entry; releases, toggle-key synchronisation, pointer and other
// events make none, except the release of a Win key pressed alone.
func (d *Decoder) Feed(t time.Time, ev input.Event) (Entry, bool) {
	switch ev.Kind {
	case input.KindScancode:
		return d.scancode(t, ev)
	case input.KindUnicode:
		return d.unicode(t, ev)
	case input.KindSync:
		// Clients synchronise when their window gains focus: keys released while it had none
		// were never sent, so every key is taken as up, lest a stale Ctrl turn all later
		// typing into chords.
		*d = Decoder{locks: lockKey(ev.SyncFlags) & (lockScroll | lockNum | lockCaps)}
	}
	return Entry{}, false
}

func (d *Decoder) isDown(i uint16) bool { return d.down[i/64]&(1<<(i%64)) != 0 }

func (d *Decoder) setDown(i uint16, down bool) {
	if down {
		d.down[i/64] |= 1 << (i % 64)
	} else {
		d.down[i/64] &^= 1 << (i % 64)
	}
}

// held returns the modifiers held down.
func (d *Decoder) held() modifier {
	var m modifier
	for _, k := range modifierKeys {
		if d.isDown(k.index) {
			m |= k.mod
		}
	}
	return m
}

func (d *Decoder) scancode(t time.Time, ev input.Event) (Entry, bool) {
	if !ev.Released {
		d.highSurrogate = 0
	}
	if ev.Extended1 {
		return d.extended1(t, ev)
	}
	if ev.Scancode > 0xFF {
		// Slow-path key codes have 16 bits; no layout key has a code above 0xFF.
		if ev.Released {
			return Entry{}, false
		}
		d.winAlone = false
		return keyEntry(t, fmt.Sprintf("Scan%04X", ev.Scancode), d.held()), true
	}
	index, ext := ev.Scancode, 0
	if ev.Extended {
		index, ext = index|0x100, 1
	}
	k := &usLayout[ext][ev.Scancode]
	if k.kind == kindIgnore {
		return Entry{}, false
	}
	wasDown := d.isDown(index)
	if ev.Released {
		if !wasDown {
			// A release without a press: focus-time Tab releases, or a key pressed before
			// the recording started. Nothing was typed.
			return Entry{}, false
		}
		d.setDown(index, false)
		if k.kind == kindModifier && k.mod == modWin && d.winAlone && d.held()&modWin == 0 {
			// Win pressed and released alone opens the Start menu.
			d.winAlone = false
			return keyEntry(t, k.name, d.held()), true
		}
		return Entry{}, false
	}
	if k.kind == kindLock && k.lock == lockNum && !ev.Extended && d.pauseDown {
		// Pause is sent as E1 1D then 45: the 45 is no Num Lock press.
		return Entry{}, false
	}

	// A press of a key already down, or one the client flags as such, is an auto-repeat: it
	// types again, but does not toggle a lock key or end a lone Win press.
	repeat := wasDown || ev.WasDown
	before := d.held()
	d.setDown(index, true)
	if !repeat {
		d.winAlone = k.kind == kindModifier && k.mod == modWin && before&modWin == 0
	}
	mods := d.held()
	switch k.kind {
	case kindModifier:
		return Entry{}, false
	case kindLock:
		if repeat {
			return Entry{}, false
		}
		d.locks ^= k.lock
		return keyEntry(t, k.name, mods), true
	case kindChar:
		if mods&modChord != 0 {
			return keyEntry(t, k.name, mods), true
		}
		shift := mods&modShift != 0
		if k.letter && d.locks&lockCaps != 0 {
			shift = !shift
		}
		if shift {
			return Entry{Time: t, Text: k.shift}, true
		}
		return Entry{Time: t, Text: k.base}, true
	case kindNumpad:
		// With Num Lock on, Shift turns the keypad back to navigation keys, and is not passed
		// on (as in Windows: Shift+Num7 is Home, not Shift+Home).
		if numLock := d.locks&lockNum != 0; !numLock || mods&modShift != 0 {
			if numLock {
				mods &^= modShift
			}
			return keyEntry(t, k.nav, mods), true
		}
		if mods&modChord != 0 {
			return keyEntry(t, k.name, mods), true
		}
		return Entry{Time: t, Text: k.base}, true
	default: // kindNamed, kindUnknown
		return keyEntry(t, k.name, mods), true
	}
}

// extended1 decodes keys with the E1 prefix: Pause (E1 1D) is the only one.
func (d *Decoder) extended1(t time.Time, ev input.Event) (Entry, bool) {
	if ev.Scancode != 0x1D {
		if ev.Released {
			return Entry{}, false
		}
		d.winAlone = false
		return keyEntry(t, fmt.Sprintf("ScanE1%02X", ev.Scancode), d.held()), true
	}
	if ev.Released {
		d.pauseDown = false
		return Entry{}, false
	}
	repeat := d.pauseDown || ev.WasDown
	d.pauseDown = true
	if repeat {
		return Entry{}, false
	}
	d.winAlone = false
	return keyEntry(t, "Pause", d.held()), true
}

func (d *Decoder) unicode(t time.Time, ev input.Event) (Entry, bool) {
	if ev.Released {
		return Entry{}, false
	}
	d.winAlone = false
	r, high := ev.Unicode, d.highSurrogate
	d.highSurrogate = 0
	switch {
	case r >= 0xD800 && r < 0xDC00:
		d.highSurrogate = r
		return Entry{}, false
	case r >= 0xDC00 && r < 0xE000:
		if high == 0 {
			return Entry{}, false // unpaired: dropped
		}
		r = utf16.DecodeRune(high, r)
	case !utf8.ValidRune(r):
		return Entry{}, false
	}
	switch r {
	case '\b':
		return keyEntry(t, "Backspace", 0), true
	case '\t':
		return keyEntry(t, "Tab", 0), true
	case '\n', '\r':
		return keyEntry(t, "Enter", 0), true
	case 0x1B:
		return keyEntry(t, "Escape", 0), true
	case 0x7F:
		return keyEntry(t, "Delete", 0), true
	}
	if unicode.IsControl(r) {
		return keyEntry(t, fmt.Sprintf("U+%04X", r), 0), true
	}
	return Entry{Time: t, Text: string(r)}, true
}

func keyEntry(t time.Time, name string, mods modifier) Entry {
	return Entry{Time: t, Key: name, Modifiers: modifierNames(mods)}
}

func modifierNames(mods modifier) []string {
	if mods == 0 {
		return nil
	}
	names := make([]string, 0, 4)
	for _, m := range modifierOrder {
		if mods&m.mod != 0 {
			names = append(names, m.name)
		}
	}
	return names
}
