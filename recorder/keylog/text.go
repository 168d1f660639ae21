package keylog

import (
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// String renders e as in the text form of the log: the text itself, a key as "<Enter>" or
// "<Shift+Tab>", a chord (a key with Ctrl, Alt or Win) as "[Ctrl+C]". Backslashes and
// characters that are not graphic are escaped ("\\", "\t", "\u200b"), and so is a "<" or "["
// that starts a text, so that it cannot pass for a key.
func (e Entry) String() string {
	return string(e.appendString(nil))
}

func (e Entry) appendString(dst []byte) []byte {
	if e.Key == "" {
		return appendEscaped(dst, e.Text, true)
	}
	open, end := byte('<'), byte('>')
	if e.chord() {
		open, end = '[', ']'
	}
	dst = append(dst, open)
	for _, m := range e.Modifiers {
		dst = append(appendEscaped(dst, m, false), '+')
	}
	return append(appendEscaped(dst, e.Key, false), end)
}

// AppendText appends e as a line of the text form of the log: its time (RFC 3339, UTC, in
// milliseconds), a tab, e.String() and a newline.
func AppendText(dst []byte, e Entry) []byte {
	dst = e.Time.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, '\t')
	return append(e.appendString(dst), '\n')
}

// RenderText reads a log in the stored format from r and writes its text form to w, a line per
// record. A malformed log is rendered up to the bad line, and the error returned.
func RenderText(w io.Writer, r io.Reader) error {
	var buf []byte
	for lr := NewReader(r); ; {
		e, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		buf = AppendText(buf[:0], e)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("keylog: write: %w", err)
		}
	}
}

// appendEscaped appends s with backslashes and non-graphic characters escaped, and with a
// leading "<" or "[" escaped if lead is set.
func appendEscaped(dst []byte, s string, lead bool) []byte {
	for i, r := range s {
		switch {
		case r == '\\':
			dst = append(dst, `\\`...)
		case lead && i == 0 && (r == '<' || r == '['):
			dst = append(dst, '\\', byte(r))
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == utf8.RuneError || unicode.IsGraphic(r):
			// Invalid UTF-8 is rendered as U+FFFD, as any text.
			dst = utf8.AppendRune(dst, r)
		case r > 0xFFFF:
			dst = fmt.Appendf(dst, `\U%08x`, r)
		default:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		}
	}
	return dst
}
