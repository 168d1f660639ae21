package playback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessionconnector/sessionconnector/recorder/keylog"
)

// Listing is what the player needs of the launch API's recording listing
// (GET /api/v1/recordings/{session}, launch.Recording); the URLs stay with the page.
type Listing struct {
	Session string    `json:"session"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Chunks  []struct {
		Seq    uint32    `json:"seq"`
		Size   int64     `json:"size"`
		SHA256 string    `json:"sha256"`
		First  time.Time `json:"first"`
		Last   time.Time `json:"last"`
	} `json:"chunks"`
}

// MaxListingBytes bounds a listing (a manifest is at most 16 MiB; the URLs add to it).
const MaxListingBytes = 64 << 20

// ParseListing reads a listing into the Options of its Player (without Fetch).
func ParseListing(b []byte) (Options, error) {
	if len(b) > MaxListingBytes {
		return Options{}, fmt.Errorf("playback: listing of %d bytes", len(b))
	}
	var l Listing
	if err := json.Unmarshal(b, &l); err != nil {
		return Options{}, fmt.Errorf("playback: read the listing: %w", err)
	}
	if l.Start.IsZero() {
		return Options{}, errors.New("playback: the listing has no start")
	}
	opts := Options{Start: l.Start, End: l.End, Chunks: make([]Chunk, 0, len(l.Chunks))}
	for _, c := range l.Chunks {
		opts.Chunks = append(opts.Chunks, Chunk{Seq: c.Seq, Size: c.Size, SHA256: c.SHA256, First: c.First, Last: c.Last})
	}
	return opts, nil
}

// Keystroke is an entry of the keystroke log as the player lists it.
type Keystroke struct {
	// At is when, from the recording's start (never before it).
	At time.Duration
	// Text is the entry in the log's text form: typed text, <Enter>, [Ctrl+C].
	Text string
}

// Keystrokes reads a keystroke log (recorder/keylog's stored format). On a malformed line it
// returns the entries before it and the error.
func Keystrokes(log []byte, start time.Time) ([]Keystroke, error) {
	entries, err := keylog.Parse(bytes.NewReader(log))
	out := make([]Keystroke, 0, len(entries))
	for _, e := range entries {
		out = append(out, Keystroke{At: max(e.Time.Sub(start), 0), Text: e.String()})
	}
	return out, err
}
