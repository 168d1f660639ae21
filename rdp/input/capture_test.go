package input

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/fuzz seeds from the captures")

// capturesDir holds the plaintext captures the golden files are extracted from.
const capturesDir = "/work/shared/captures"

var captureNames = []string{"freerdp-xrdp-tls", "freerdp-rdpfile-routing-token", "freerdp-shadow-nla"}

// clientPDUs walks a captured client stream (a test helper that needs no MCS package): it
// returns the fast-path input PDUs and the user data of the MCS Send Data Requests, stripping
// the X.224 Data header (02 F0 80) and the PER Send Data Request header (0x64, initiator,
// channelId, flags, 1- or 2-byte length). CredSSP TSRequests (DER, 0x30) after the X.224
// Connection Request are skipped.
func clientPDUs(tb testing.TB, stream []byte) (fast, slow [][]byte) {
	tb.Helper()
	frames := 0
	for off := 0; off < len(stream); {
		b := stream[off:]
		if b[0] == 0x30 && frames == 1 {
			l, hl := int(b[1]), 2
			if l&0x80 != 0 {
				k := l & 0x7F
				l = 0
				for _, c := range b[2 : 2+k] {
					l = l<<8 | int(c)
				}
				hl += k
			}
			off += hl + l
			continue
		}
		switch tpkt.Detect(b[0]) {
		case tpkt.KindTPKT:
			n, err := tpkt.FrameLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: TPKT frame: %v", off, err)
			}
			frames++
			p := b[tpkt.HeaderLen:n]
			if len(p) > 10 && bytes.HasPrefix(p, []byte{0x02, 0xF0, 0x80, 0x64}) {
				m := p[3:]
				hl := 7
				if m[6]&0x80 != 0 {
					hl = 8
				}
				slow = append(slow, m[hl:])
			}
			off += n
		case tpkt.KindFastPath:
			n, _, err := tpkt.FastPathLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: fast-path PDU: %v", off, err)
			}
			fast = append(fast, b[:n])
			off += n
		default:
			tb.Fatalf("offset %d: unknown first byte 0x%02x", off, b[0])
		}
	}
	return fast, slow
}

func readGolden(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatalf("read golden file: %v", err)
	}
	var pdus [][]byte
	for r := bytes.NewReader(b); ; {
		_, p, err := tpkt.ReadPDU(r, 0)
		if errors.Is(err, io.EOF) {
			return pdus
		}
		if err != nil {
			tb.Fatalf("golden file: %v", err)
		}
		pdus = append(pdus, p)
	}
}

// TestCaptureExtraction checks testdata/golden/<capture>.c2s.fastpath.bin (the client's
// fast-path PDUs, back to back) against the captures, or rewrites them and the fuzz seeds with
// -update. None of the captures has a slow-path Input PDU (FreeRDP uses fast-path input).
func TestCaptureExtraction(t *testing.T) {
	if _, err := os.Stat(capturesDir); err != nil {
		t.Skipf("captures not available: %v", err)
	}
	for _, name := range captureNames {
		stream, err := os.ReadFile(filepath.Join(capturesDir, name, "c2s.bin"))
		if err != nil {
			t.Fatal(err)
		}
		fast, slow := clientPDUs(t, stream)
		for _, s := range slow {
			if _, err := ParseSlowPathPDU(s); err == nil {
				t.Errorf("%s: unexpected slow-path Input PDU", name)
			}
		}
		got := bytes.Join(fast, nil)
		path := filepath.Join("testdata", "golden", name+".c2s.fastpath.bin")
		if *update {
			writeFile(t, path, got)
			seen := map[string]bool{}
			for i, p := range fast {
				key := fmt.Sprintf("%x", p[:min(len(p), 4)])
				if seen[key] {
					continue
				}
				seen[key] = true
				writeFile(t, filepath.Join("testdata", "fuzz", "FuzzParseFastPathInput", fmt.Sprintf("%s-%03d", name, i)),
					fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", p))
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the capture (%v); run with -update", path, err)
		}
	}
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
