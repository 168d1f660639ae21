package replay

import (
	"encoding/binary"
	"image/color"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay/replaytest"
)

// fuzzRecords splits data into records: each is a byte of direction and kind (bit 0: target to
// client, bit 1: fast-path), a 16-bit length and the PDU.
func fuzzRecords(data []byte) []capture.Record {
	var recs []capture.Record
	for len(data) >= 3 {
		dir, kind := capture.ClientToTarget, capture.KindTPKT
		if data[0]&1 != 0 {
			dir = capture.TargetToClient
		}
		if data[0]&2 != 0 {
			kind = capture.KindFastPath
		}
		n := min(int(binary.LittleEndian.Uint16(data[1:])), len(data)-3)
		recs = append(recs, capture.Record{Time: t0, Direction: dir, Kind: kind, PDU: data[3 : 3+n]})
		data = data[3+n:]
	}
	return recs
}

func fuzzEncode(recs []capture.Record) []byte {
	var b []byte
	for _, r := range recs {
		flags := byte(0)
		if r.Direction == capture.TargetToClient {
			flags |= 1
		}
		if r.Kind == capture.KindFastPath {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(r.PDU)))
		b = append(b, r.PDU...)
	}
	return b
}

// FuzzScreen feeds arbitrary records: Apply and Render return errors, never panic, and the
// picture stays within its bounds. Seeds: a real FreeRDP ↔ xrdp session and a synthetic one
// with every codec.
func FuzzScreen(f *testing.F) {
	f.Add(fuzzEncode(loadCapture(f, filepath.Join("testdata", "freerdp-xrdp-tls"))))
	ses := replaytest.New(t0)
	must(f, ses.DemandActive(64, 48, 32))
	must(f, ses.FastPathBitmap(rect(f, replaytest.Solid(64, 48, blue), 0, 0, 32, replaytest.Planar)))
	must(f, ses.SlowPathBitmap(rect(f, replaytest.Solid(9, 7, red), 3, 3, 16, replaytest.Interleaved)))
	must(f, ses.FastPathBitmap(rect(f, gradient(5, 5), 10, 10, 24, replaytest.Uncompressed)))
	var pal [256]color.RGBA
	must(f, ses.Palette(&pal))
	must(f, ses.MouseMove(20, 20))
	must(f, ses.PointerHidden(true))
	f.Add(fuzzEncode(ses.Records))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScreen()
		s.maxSide = 1024 // keep each run small; the limit's check is the same
		for _, r := range fuzzRecords(data) {
			_, _ = s.Apply(r)
		}
		if img := s.Render(nil); img != nil {
			w, h := s.Size()
			if img.Bounds().Dx() != w || img.Bounds().Dy() != h {
				t.Fatalf("frame %v for a %dx%d desktop", img.Bounds(), w, h)
			}
		}
	})
}
