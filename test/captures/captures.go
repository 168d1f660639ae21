// Package captures reads the plaintext captures of real RDP sessions (/work/shared/captures,
// see its README) for golden tests and fuzz seed corpora: it splits a captured byte stream
// into its PDUs, and reads and writes the golden files and seeds tests keep in testdata.
//
// It needs no protocol package but rdp/tpkt, so that the protocol packages' own tests can use
// it: it strips the X.224 Data TPDU header (02 F0 80) and the PER-encoded MCS Send Data
// Request/Indication header itself.
package captures

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// RawDir holds the raw captures. Tests read the copies they keep in testdata; the raw
// captures are needed only to rewrite those (-update), and are absent on CI machines.
const RawDir = "/work/shared/captures"

// Names are the captures: FreeRDP against xrdp (TLS), FreeRDP opening a .rdp file with a
// routing token against xrdp, FreeRDP against its shadow server with NLA.
var Names = []string{"freerdp-xrdp-tls", "freerdp-rdpfile-routing-token", "freerdp-shadow-nla"}

// Kind tells what a unit of a captured stream is.
type Kind int

const (
	// X224 is the X.224 Connection Request or Confirm.
	X224 Kind = iota
	// CredSSP is a DER TSRequest (NLA), between X.224 and MCS.
	CredSSP
	// MCS is an MCS domain PDU other than Send Data.
	MCS
	// SendData is an MCS Send Data Request (client) or Indication (server).
	SendData
	// FastPath is a fast-path input or output PDU.
	FastPath
)

// Frame is one PDU of a captured stream.
type Frame struct {
	// Offset is where the PDU starts in the stream.
	Offset int
	Kind   Kind
	// MCSType is the first byte of the MCS PDU (MCS, SendData).
	MCSType byte
	// Initiator and Channel are the Send Data PDU's user channel and channel ID.
	Initiator, Channel uint16
	// Data is the user data of a Send Data PDU, the MCS PDU of an MCS frame, and the whole PDU
	// otherwise (the TPKT frame of X224, the fast-path PDU).
	Data []byte
	// Raw is the whole PDU as it was on the wire (TPKT frame, fast-path PDU, DER element).
	Raw []byte
}

// ReadRaw returns one direction ("c2s" or "s2c") of a raw capture, skipping the test when the
// raw captures are not on this machine.
func ReadRaw(tb testing.TB, name, dir string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(RawDir, name, dir+".bin"))
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("raw captures not available: %v", err)
	}
	if err != nil {
		tb.Fatalf("read capture: %v", err)
	}
	return b
}

// Walk splits a captured byte stream into its PDUs; a stream it cannot split fails the test.
func Walk(tb testing.TB, stream []byte) []Frame {
	tb.Helper()
	var frames []Frame
	seenMCS := false
	for off := 0; off < len(stream); {
		b := stream[off:]
		// CredSSP TSRequests (DER SEQUENCE, 0x30) come between X.224 and MCS in NLA sessions;
		// 0x30 would otherwise read as a fast-path header.
		if b[0] == 0x30 && !seenMCS {
			n := derLength(tb, b)
			frames = append(frames, Frame{Offset: off, Kind: CredSSP, Data: b[:n], Raw: b[:n]})
			off += n
			continue
		}
		switch tpkt.Detect(b[0]) {
		case tpkt.KindTPKT:
			n, err := tpkt.FrameLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: TPKT frame: %v (length %d of %d)", off, err, n, len(b))
			}
			f := splitTPKT(tb, off, b[:n])
			frames = append(frames, f)
			seenMCS = seenMCS || f.Kind != X224
			off += n
		case tpkt.KindFastPath:
			n, _, err := tpkt.FastPathLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: fast-path PDU: %v (length %d of %d)", off, err, n, len(b))
			}
			frames = append(frames, Frame{Offset: off, Kind: FastPath, Data: b[:n], Raw: b[:n]})
			off += n
		default:
			tb.Fatalf("offset %d: unknown first byte 0x%02x", off, b[0])
		}
	}
	return frames
}

// Of returns the Data of the frames of one kind.
func Of(frames []Frame, kind Kind) [][]byte {
	var out [][]byte
	for _, f := range frames {
		if f.Kind == kind {
			out = append(out, f.Data)
		}
	}
	return out
}

func derLength(tb testing.TB, b []byte) int {
	tb.Helper()
	if len(b) < 2 {
		tb.Fatalf("DER header cut short")
	}
	l, hl := int(b[1]), 2
	if l&0x80 != 0 {
		k := l & 0x7F
		if k == 0 || k > 3 || len(b) < 2+k {
			tb.Fatalf("DER length of %d bytes", k)
		}
		l = 0
		for _, c := range b[2 : 2+k] {
			l = l<<8 | int(c)
		}
		hl += k
	}
	if hl+l > len(b) {
		tb.Fatalf("DER element of %d bytes, %d left", hl+l, len(b))
	}
	return hl + l
}

func splitTPKT(tb testing.TB, off int, frame []byte) Frame {
	tb.Helper()
	p := frame[tpkt.HeaderLen:]
	if len(p) < 3 || p[0] != 0x02 || p[1] != 0xF0 || p[2] != 0x80 {
		return Frame{Offset: off, Kind: X224, Data: frame, Raw: frame}
	}
	m := p[3:]
	if len(m) == 0 {
		tb.Fatalf("offset %d: empty MCS PDU", off)
	}
	f := Frame{Offset: off, Kind: MCS, MCSType: m[0], Data: m, Raw: frame}
	if m[0] != 0x64 && m[0] != 0x68 {
		return f
	}
	if len(m) < 7 {
		tb.Fatalf("offset %d: MCS Send Data header cut short", off)
	}
	f.Kind = SendData
	f.Initiator = binary.BigEndian.Uint16(m[1:3]) + 1001
	f.Channel = binary.BigEndian.Uint16(m[3:5])
	n, hl := int(m[6]), 7
	switch {
	case m[6]&0xC0 == 0xC0:
		tb.Fatalf("offset %d: fragmented PER length", off)
	case m[6]&0x80 != 0:
		if len(m) < 8 {
			tb.Fatalf("offset %d: MCS length cut short", off)
		}
		n, hl = int(binary.BigEndian.Uint16(m[6:8])&0x3FFF), 8
	}
	if hl+n != len(m) {
		tb.Fatalf("offset %d: MCS user data of %d bytes, frame holds %d", off, n, len(m)-hl)
	}
	f.Data = m[hl:]
	return f
}

// SplitPDUs splits PDUs kept back to back (TPKT frames or fast-path PDUs, as a golden file
// holds them).
func SplitPDUs(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
	var pdus [][]byte
	for r := bytes.NewReader(b); ; {
		_, p, err := tpkt.ReadPDU(r, 0)
		if errors.Is(err, io.EOF) {
			return pdus
		}
		if err != nil {
			tb.Fatalf("PDUs back to back: %v", err)
		}
		pdus = append(pdus, p)
	}
}

// ReadGolden returns testdata/golden/name.
func ReadGolden(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatalf("read golden file (run the test with -update on a machine with %s): %v", RawDir, err)
	}
	return b
}

// Golden compares b with testdata/golden/name, or writes it there when update is set.
func Golden(tb testing.TB, update bool, name string, b []byte) {
	tb.Helper()
	path := filepath.Join("testdata", "golden", name)
	if update {
		WriteFile(tb, path, b)
		return
	}
	if want := ReadGolden(tb, name); !bytes.Equal(want, b) {
		tb.Fatalf("%s differs from what the capture yields (run with -update)", path)
	}
}

// WriteSeed writes b as testdata/fuzz/<target>/<name> in the corpus format of `go test fuzz v1`.
func WriteSeed(tb testing.TB, target, name string, b []byte) {
	tb.Helper()
	WriteFile(tb, filepath.Join("testdata", "fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b))
}

// WriteFile writes a file, creating its folder.
func WriteFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}
