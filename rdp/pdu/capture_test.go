package pdu

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

// update rewrites the golden files and seed corpora from the captures in testdata/captures
// (copies of /work/shared/captures/*/{c2s,s2c}.bin).
var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/fuzz seeds from testdata/captures")

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
	c2sFrames  []captures.Frame
	s2cFrames  []captures.Frame
}

// loadSession walks both directions of a capture. The Client Info PDU (SEC_INFO_PKT) names the
// I/O channel. On the server side licensing lasts until the "valid client" alert (or a new or
// upgraded license); on the client side until the Confirm Active.
func loadSession(tb testing.TB, name string) *session {
	tb.Helper()
	s := &session{
		c2sFrames: captures.Walk(tb, readCapture(tb, name, "c2s")),
		s2cFrames: captures.Walk(tb, readCapture(tb, name, "s2c")),
	}
	for _, f := range s.c2sFrames {
		if f.Kind != captures.SendData {
			continue
		}
		if s.clientInfo == nil {
			if sec, _, err := ParseSecurityHeader(f.Data); err == nil && sec.Flags&SecInfoPkt != 0 {
				s.clientInfo, s.ioChannel = f.Data, f.Channel
			}
			continue
		}
		if f.Channel != s.ioChannel {
			continue
		}
		if len(s.c2sShare) == 0 {
			if _, err := ParseConfirmActive(f.Data); err != nil {
				s.c2sLicense = append(s.c2sLicense, f.Data)
				continue
			}
		}
		s.c2sShare = append(s.c2sShare, f.Data)
	}
	if s.clientInfo == nil {
		tb.Fatalf("%s: no Client Info PDU", name)
	}
	licensing := true
	for _, f := range s.s2cFrames {
		if f.Kind != captures.SendData || f.Channel != s.ioChannel {
			continue
		}
		if licensing {
			s.s2cLicense = append(s.s2cLicense, f.Data)
			l, err := ParseLicensePDU(f.Data)
			if err != nil {
				tb.Fatalf("%s: s2c licensing PDU: %v", name, err)
			}
			if l.IsValidClient() || l.MsgType == LicenseNewLicense || l.MsgType == LicenseUpgradeLicense {
				licensing = false
			}
			continue
		}
		s.s2cShare = append(s.s2cShare, f.Data)
	}
	return s
}

// golden compares b with testdata/golden/name, or writes it there with -update.
func golden(tb testing.TB, name string, b []byte) {
	tb.Helper()
	captures.Golden(tb, *update, name, b)
}

// seed writes a fuzz seed with -update.
func seed(tb testing.TB, target, name string, b []byte) {
	tb.Helper()
	if *update {
		captures.WriteSeed(tb, target, name, b)
	}
}

func readGolden(tb testing.TB, name string) []byte {
	tb.Helper()
	return captures.ReadGolden(tb, name)
}
