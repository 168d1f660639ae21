package keylog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Reader reads a log in the stored format, record by record.
type Reader struct {
	s    *bufio.Scanner
	line int
	err  error
}

// NewReader returns a Reader of the log in r.
func NewReader(r io.Reader) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), maxLineBytes)
	return &Reader{s: s}
}

// Next returns the next record, or io.EOF after the last. A record that cannot be read stops
// the Reader: Next returns an error wrapping ErrMalformed, with the line number, from then on.
// Blank lines are skipped, and so are unknown fields, which later versions of the format may
// add.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	for r.s.Scan() {
		r.line++
		b := r.s.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		e, err := parseRecord(b)
		if err != nil {
			r.err = fmt.Errorf("%w: line %d: %w", ErrMalformed, r.line, err)
			return Entry{}, r.err
		}
		return e, nil
	}
	switch err := r.s.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		r.err = fmt.Errorf("%w: line %d longer than %d bytes", ErrMalformed, r.line+1, maxLineBytes)
	case err != nil:
		r.err = fmt.Errorf("keylog: read: %w", err)
	default:
		r.err = io.EOF
	}
	return Entry{}, r.err
}

// Parse reads a whole log in the stored format. On error it returns the records before the
// bad line with the error, so that a player can show a log cut short.
func Parse(r io.Reader) ([]Entry, error) {
	var entries []Entry
	for lr := NewReader(r); ; {
		e, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return entries, err
		}
		entries = append(entries, e)
	}
}

// parseRecord decodes one line. Field names are matched exactly (encoding/json alone would
// match them regardless of case).
func parseRecord(b []byte) (Entry, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Entry{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if fields == nil {
		return Entry{}, errors.New("not a JSON object")
	}
	var (
		e Entry
		t string
	)
	for _, f := range []struct {
		name     string
		v        any
		required bool
	}{{"t", &t, true}, {"text", &e.Text, false}, {"key", &e.Key, false}, {"mods", &e.Modifiers, false}} {
		raw, ok := fields[f.name]
		if !ok {
			if f.required {
				return Entry{}, fmt.Errorf("no %q field", f.name)
			}
			continue
		}
		if err := json.Unmarshal(raw, f.v); err != nil {
			return Entry{}, fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	tm, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return Entry{}, fmt.Errorf("field \"t\": %w", err)
	}
	e.Time = tm.UTC()
	if len(e.Modifiers) == 0 {
		e.Modifiers = nil
	}
	if err := validate(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}
