package pdu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

// describe names every PDU of one I/O channel PDU list for the log and the order checks.
func describe(tb testing.TB, pdus [][]byte) []string {
	tb.Helper()
	var names []string
	for i, b := range pdus {
		ps, err := ParseSharePDUs(b)
		if err != nil {
			tb.Fatalf("share PDU %d: %v", i, err)
		}
		for _, p := range ps {
			name := p.Name()
			if p.Data != nil {
				switch {
				case p.Data.Compressed():
					name += fmt.Sprintf(" (compressed 0x%02x)", p.Data.CompressedType)
				case p.Data.PDUType2 == PDUType2Control:
					c, err := ParseControl(p.Payload)
					if err != nil {
						tb.Fatal(err)
					}
					name += fmt.Sprintf("(%d)", c.Action)
				}
			}
			names = append(names, name)
		}
	}
	return names
}

func licenseNames(tb testing.TB, pdus [][]byte) []string {
	tb.Helper()
	var names []string
	for _, b := range pdus {
		l, err := ParseLicensePDU(b)
		if err != nil {
			tb.Fatalf("license PDU: %v", err)
		}
		name := LicenseMsgTypeName(l.MsgType)
		if l.IsValidClient() {
			name += " (valid client)"
		}
		names = append(names, name)
	}
	return names
}

// TestCaptureSessions extracts the PDUs the golden tests use, checks them against
// testdata/golden (or writes them with -update, with the fuzz seeds), and checks the order of
// the connection sequence on the I/O channel.
func TestCaptureSessions(t *testing.T) {
	type want struct {
		c2sLicense, s2cLicense []string
		c2sPrefix, s2cPrefix   []string
	}
	xrdp := want{
		c2sLicense: []string{"New License Request"},
		s2cLicense: []string{"License Request", "Error Alert (valid client)"},
		c2sPrefix:  []string{"Confirm Active", "Data/Synchronize", "Data/Control(4)", "Data/Control(1)", "Data/Font List"},
		s2cPrefix:  []string{"Demand Active", "Data/Synchronize", "Data/Control(4)", "Data/Control(2)", "Data/Font Map"},
	}
	wants := map[string]want{
		"freerdp-xrdp-tls":              xrdp,
		"freerdp-rdpfile-routing-token": xrdp,
		"freerdp-shadow-nla": {
			s2cLicense: []string{"Error Alert (valid client)"},
			c2sPrefix:  []string{"Confirm Active", "Data/Synchronize", "Data/Control(4)", "Data/Control(1)", "Data/Font List"},
			s2cPrefix:  []string{"Demand Active", "Data/Synchronize", "Data/Control(4)", "Data/Control(2)", "Data/Font Map"},
		},
	}
	for _, name := range captures.Names {
		t.Run(name, func(t *testing.T) {
			s := loadSession(t, name)
			w := wants[name]
			c2sLic, s2cLic := licenseNames(t, s.c2sLicense), licenseNames(t, s.s2cLicense)
			c2s, s2c := describe(t, s.c2sShare), describe(t, s.s2cShare)
			t.Logf("I/O channel %d", s.ioChannel)
			t.Logf("c2s licensing: %s", strings.Join(c2sLic, ", "))
			t.Logf("s2c licensing: %s", strings.Join(s2cLic, ", "))
			t.Logf("c2s share PDUs: %s", strings.Join(c2s, ", "))
			t.Logf("s2c share PDUs: %s", strings.Join(s2c, ", "))
			checkList(t, "c2s licensing", c2sLic, w.c2sLicense, true)
			checkList(t, "s2c licensing", s2cLic, w.s2cLicense, true)
			checkList(t, "c2s share PDUs", c2s, w.c2sPrefix, false)
			checkList(t, "s2c share PDUs", s2c, w.s2cPrefix, false)

			golden(t, name+".clientinfo.bin", s.clientInfo)
			golden(t, name+".demandactive.bin", s.s2cShare[0])
			golden(t, name+".confirmactive.bin", s.c2sShare[0])
			seed(t, "FuzzParseClientInfo", name, s.clientInfo)
			seed(t, "FuzzParseDemandActive", name, s.s2cShare[0])
			seed(t, "FuzzParseConfirmActive", name, s.c2sShare[0])
			for i, b := range append(append([][]byte(nil), s.c2sLicense...), s.s2cLicense...) {
				seed(t, "FuzzParseLicense", fmt.Sprintf("%s-%d", name, i), b)
			}
			// A few share PDUs of each kind (the finalization PDUs and some updates).
			seen := map[string]int{}
			for dir, list := range map[string][][]byte{"c2s": s.c2sShare, "s2c": s.s2cShare} {
				for i, b := range list {
					ps, err := ParseSharePDUs(b)
					if err != nil {
						t.Fatal(err)
					}
					key := dir + ps[0].Name()
					if seen[key] >= 2 {
						continue
					}
					seen[key]++
					seed(t, "FuzzParseShareControl", fmt.Sprintf("%s-%s-%03d", name, dir, i), b)
				}
			}
		})
	}
}

// checkList compares got with want, entirely or as a prefix.
func checkList(t *testing.T, what string, got, want []string, exact bool) {
	t.Helper()
	if len(got) < len(want) || (exact && len(got) != len(want)) {
		t.Errorf("%s = %q, want %q", what, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s[%d] = %q, want %q (all: %q)", what, i, got[i], want[i], got)
		}
	}
}
