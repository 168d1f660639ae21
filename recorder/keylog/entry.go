package keylog

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrInvalid wraps the errors of entries a Writer refuses.
	ErrInvalid = errors.New("keylog: invalid entry")
	// ErrMalformed wraps the errors of logs Parse and Reader cannot read.
	ErrMalformed = errors.New("keylog: malformed log")
)

// Limits of the stored format.
const (
	// MergeWindow is the longest pause between two typed characters that a Writer keeps in one
	// text record.
	MergeWindow = 2 * time.Second
	// MaxTextRunes is the most characters a Writer merges into one text record.
	MaxTextRunes = 256
	// MaxTextBytes is the longest text of a record.
	MaxTextBytes = 4096
	// MaxKeyBytes is the longest key name.
	MaxKeyBytes = 32
	// maxLineBytes is the longest line a Reader accepts: a record with the longest text, every
	// character escaped, fits.
	maxLineBytes = 64 << 10
)

// Entry is one record of the keystroke log: a key press, or a run of typed characters once a
// Writer has merged them. Exactly one of Text and Key is set.
type Entry struct {
	// Time is when the key was pressed; for a merged run, when its first key was.
	Time time.Time
	// Text is the typed characters.
	Text string
	// Key names a key that types no character ("Enter", "F5", "Left"), or the key of a chord:
	// "C" of Ctrl+C (letters upper case, other keys by their unshifted character).
	Key string
	// Modifiers are the modifiers held with Key, in the order ModWin, ModCtrl, ModAlt,
	// ModShift; nil when none is held and for Text.
	Modifiers []string
}

// chord reports whether e is a key pressed with a modifier other than Shift.
func (e Entry) chord() bool {
	for _, m := range e.Modifiers {
		if m != ModShift {
			return true
		}
	}
	return false
}

// validate checks that e can be stored: what a Writer writes, a Reader reads back.
func validate(e Entry) error {
	if y := e.Time.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %v outside years 0-9999", e.Time)
	}
	switch {
	case e.Text == "" && e.Key == "":
		return errors.New("neither text nor key")
	case e.Text != "" && e.Key != "":
		return errors.New("both text and key")
	case e.Text != "":
		if len(e.Modifiers) != 0 {
			return errors.New("modifiers with text")
		}
		if len(e.Text) > MaxTextBytes {
			return fmt.Errorf("text of %d bytes, at most %d", len(e.Text), MaxTextBytes)
		}
		if !utf8.ValidString(e.Text) {
			return errors.New("text is not UTF-8")
		}
		for _, r := range e.Text {
			if unicode.IsControl(r) {
				return fmt.Errorf("control character U+%04X in text", r)
			}
		}
		return nil
	}
	if len(e.Key) > MaxKeyBytes {
		return fmt.Errorf("key name of %d bytes, at most %d", len(e.Key), MaxKeyBytes)
	}
	for i := range len(e.Key) {
		if c := e.Key[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("key name %q is not printable ASCII without spaces", e.Key)
		}
	}
	var seen modifier
	for _, name := range e.Modifiers {
		var m modifier
		for _, o := range modifierOrder {
			if o.name == name {
				m = o.mod
			}
		}
		switch {
		case m == 0:
			return fmt.Errorf("unknown modifier %q", name)
		case seen&m != 0:
			return fmt.Errorf("modifier %q twice", name)
		}
		seen |= m
	}
	return nil
}
