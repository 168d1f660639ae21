package pdu

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// update rewrites the golden files and seed corpora from the captures in testdata/captures
// (copies of /work/shared/captures/*/{c2s,s2c}.bin).
var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/fuzz seeds from testdata/captures")

var captureNames = []string{"freerdp-xrdp-tls", "freerdp-rdpfile-routing-token", "freerdp-shadow-nla"}

// frameKind tells what a unit of a captured stream is.
type frameKind int

const (
	kindX224     frameKind = iota // X.224 Connection Request / Confirm
	kindCredSSP                   // DER TSRequest (NLA), before MCS
	kindMCS                       // an MCS domain PDU other than Send Data
	kindSendData                  // MCS Send Data Request (c2s) or Indication (s2c)
	kindFastPath                  // fast-path input or output PDU
)

// captureFrame is one PDU of a captured stream.
type captureFrame struct {
	offset    int
	kind      frameKind
	mcsType   byte   // first byte of the MCS PDU (kindMCS, kindSendData)
	initiator uint16 // Send Data: initiator user channel
	channel   uint16 // Send Data: channel ID
	data      []byte // Send Data: user data; fast-path: the whole PDU; else the frame
}

// walkCapture splits a captured byte stream into PDUs. It is a test helper, written so that the
// tests do not depend on the MCS package: it strips the X.224 Data TPDU header (02 F0 80) and
// the PER-encoded MCS Send Data Request/Indication header (type byte 0x64 or 0x68, initiator,
// channelId, dataPriority/segmentation, length in 1 or 2 bytes).
func walkCapture(tb testing.TB, stream []byte) []captureFrame {
	tb.Helper()
	var frames []captureFrame
	seenMCS := false
	for off := 0; off < len(stream); {
		b := stream[off:]
		// CredSSP TSRequests (DER SEQUENCE, 0x30) come between X.224 and MCS in NLA sessions;
		// 0x30 would otherwise read as a fast-path header.
		if b[0] == 0x30 && !seenMCS {
			n := derLength(tb, b)
			frames = append(frames, captureFrame{offset: off, kind: kindCredSSP, data: b[:n]})
			off += n
			continue
		}
		switch tpkt.Detect(b[0]) {
		case tpkt.KindTPKT:
			n, err := tpkt.FrameLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: TPKT frame: %v (length %d of %d)", off, err, n, len(b))
			}
			frames = append(frames, splitTPKT(tb, off, b[:n]))
			if frames[len(frames)-1].kind != kindX224 {
				seenMCS = true
			}
			off += n
		case tpkt.KindFastPath:
			n, _, err := tpkt.FastPathLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: fast-path PDU: %v (length %d of %d)", off, err, n, len(b))
			}
			frames = append(frames, captureFrame{offset: off, kind: kindFastPath, data: b[:n]})
			off += n
		default:
			tb.Fatalf("offset %d: unknown first byte 0x%02x", off, b[0])
		}
	}
	return frames
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

func splitTPKT(tb testing.TB, off int, frame []byte) captureFrame {
	tb.Helper()
	p := frame[tpkt.HeaderLen:]
	if len(p) < 3 || p[0] != 0x02 || p[1] != 0xF0 || p[2] != 0x80 {
		return captureFrame{offset: off, kind: kindX224, data: frame}
	}
	m := p[3:]
	if len(m) == 0 {
		tb.Fatalf("offset %d: empty MCS PDU", off)
	}
	f := captureFrame{offset: off, kind: kindMCS, mcsType: m[0], data: m}
	if m[0] != 0x64 && m[0] != 0x68 {
		return f
	}
	if len(m) < 7 {
		tb.Fatalf("offset %d: MCS Send Data header cut short", off)
	}
	f.kind = kindSendData
	f.initiator = binary.BigEndian.Uint16(m[1:3]) + 1001
	f.channel = binary.BigEndian.Uint16(m[3:5])
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
	f.data = m[hl:]
	return f
}

func readCapture(tb testing.TB, name, dir string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captures", name, dir+".bin"))
	if err != nil {
		tb.Fatalf("read capture: %v", err)
	}
	return b
}

// session is what the tests need from one capture: the I/O channel PDUs of each direction,
// told apart by connection phase.
type session struct {
	ioChannel  uint16
	clientInfo []byte   // c2s: user data of the Client Info PDU
	c2sLicense [][]byte // c2s licensing PDUs
	s2cLicense [][]byte // s2c licensing PDUs
	c2sShare   [][]byte // c2s I/O channel PDUs from Confirm Active on
	s2cShare   [][]byte // s2c I/O channel PDUs from Demand Active on
	c2sFrames  []captureFrame
	s2cFrames  []captureFrame
}

// loadSession walks both directions of a capture. The Client Info PDU (SEC_INFO_PKT) names the
// I/O channel. On the server side licensing lasts until the "valid client" alert (or a new or
// upgraded license); on the client side until the Confirm Active.
func loadSession(tb testing.TB, name string) *session {
	tb.Helper()
	s := &session{
		c2sFrames: walkCapture(tb, readCapture(tb, name, "c2s")),
		s2cFrames: walkCapture(tb, readCapture(tb, name, "s2c")),
	}
	for _, f := range s.c2sFrames {
		if f.kind != kindSendData {
			continue
		}
		if s.clientInfo == nil {
			if sec, _, err := ParseSecurityHeader(f.data); err == nil && sec.Flags&SecInfoPkt != 0 {
				s.clientInfo, s.ioChannel = f.data, f.channel
			}
			continue
		}
		if f.channel != s.ioChannel {
			continue
		}
		if len(s.c2sShare) == 0 {
			if _, err := ParseConfirmActive(f.data); err != nil {
				s.c2sLicense = append(s.c2sLicense, f.data)
				continue
			}
		}
		s.c2sShare = append(s.c2sShare, f.data)
	}
	if s.clientInfo == nil {
		tb.Fatalf("%s: no Client Info PDU", name)
	}
	licensing := true
	for _, f := range s.s2cFrames {
		if f.kind != kindSendData || f.channel != s.ioChannel {
			continue
		}
		if licensing {
			s.s2cLicense = append(s.s2cLicense, f.data)
			l, err := ParseLicensePDU(f.data)
			if err != nil {
				tb.Fatalf("%s: s2c licensing PDU: %v", name, err)
			}
			if l.IsValidClient() || l.MsgType == LicenseNewLicense || l.MsgType == LicenseUpgradeLicense {
				licensing = false
			}
			continue
		}
		s.s2cShare = append(s.s2cShare, f.data)
	}
	return s
}

// golden compares b with testdata/golden/name, or writes it there with -update.
func golden(tb testing.TB, name string, b []byte) {
	tb.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		writeFile(tb, path, b)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != string(b) {
		tb.Fatalf("%s differs from what the capture yields (run with -update)", path)
	}
}

// seed writes a fuzz seed in the corpus format of `go test fuzz v1` with -update.
func seed(tb testing.TB, target, name string, b []byte) {
	tb.Helper()
	if !*update {
		return
	}
	writeFile(tb, filepath.Join("testdata", "fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b))
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func readGolden(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatalf("read golden file: %v", err)
	}
	return b
}
