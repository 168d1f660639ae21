package keylog

import (
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// timeLayout is the time of stored records: RFC 3339 in UTC, to the millisecond.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Writer writes entries in the stored format (JSON Lines, see the package documentation),
// merging consecutive text entries into one record while each follows the previous within
// MergeWindow, up to MaxTextRunes characters. A text run is held back until an entry that
// does not extend it, FlushIdle or Flush; every other record is written as it comes, with one
// Write call per record. A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
	err error

	// run is the pending text run, with the times of its first and last keys and its length
	// in runes.
	run         []byte
	first, last time.Time
	runes       int
}

// NewWriter returns a Writer that writes the log to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// WriteEntry adds e to the log. It refuses entries that cannot be stored (an error wrapping
// ErrInvalid; the Writer stays usable). After a write error, every call returns that error.
func (w *Writer) WriteEntry(e Entry) error {
	if w.err != nil {
		return w.err
	}
	if err := validate(e); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if e.Text == "" {
		if err := w.Flush(); err != nil {
			return err
		}
		return w.emit(e)
	}
	n := utf8.RuneCountInString(e.Text)
	if len(w.run) > 0 {
		if gap := e.Time.Sub(w.last); gap >= 0 && gap <= MergeWindow && w.runes+n <= MaxTextRunes {
			w.run = append(w.run, e.Text...)
			w.last, w.runes = e.Time, w.runes+n
			return nil
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.run = append(w.run[:0], e.Text...)
	w.first, w.last, w.runes = e.Time, e.Time, n
	return nil
}

// FlushIdle writes the pending text run if no key can extend it any more: its last key is
// older than MergeWindow at now. A recorder calls it from time to time, so that a crash loses
// no more than the last MergeWindow of typing.
func (w *Writer) FlushIdle(now time.Time) error {
	if len(w.run) == 0 || now.Sub(w.last) <= MergeWindow {
		return w.err
	}
	return w.Flush()
}

// Flush writes the pending text run, if any. Call it when the session ends.
func (w *Writer) Flush() error {
	if w.err != nil || len(w.run) == 0 {
		return w.err
	}
	e := Entry{Time: w.first, Text: string(w.run)}
	w.run = w.run[:0]
	return w.emit(e)
}

func (w *Writer) emit(e Entry) error {
	w.buf = appendRecord(w.buf[:0], e)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("keylog: write: %w", err)
	}
	return w.err
}

// appendRecord appends e, which validate accepts, as a line of the stored format.
func appendRecord(dst []byte, e Entry) []byte {
	dst = append(dst, `{"t":"`...)
	dst = e.Time.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, '"')
	if e.Text != "" {
		dst = append(dst, `,"text":`...)
		dst = appendJSONString(dst, e.Text)
	} else {
		dst = append(dst, `,"key":`...)
		dst = appendJSONString(dst, e.Key)
		if len(e.Modifiers) > 0 {
			dst = append(dst, `,"mods":[`...)
			for i, m := range e.Modifiers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, m)
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, "}\n"...)
}

// appendJSONString appends s as a JSON string. Characters are written as they are, but for
// quotes, backslashes, control characters and the line and paragraph separators (escaped so
// that the line can be pasted into JavaScript source); invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r < 0x20 || r == 0x7F || r == '\u2028' || r == '\u2029':
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}
