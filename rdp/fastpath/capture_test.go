package fastpath

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

// fastPathPDUs returns the fast-path PDUs of a captured stream, in order. It is a test helper:
// it walks TPKT frames with rdp/tpkt, skips the CredSSP TSRequests (DER, first byte 0x30) an NLA
// session sends before its first TPKT frame after the X.224 exchange, and keeps fast-path PDUs.
func fastPathPDUs(tb testing.TB, stream []byte) [][]byte {
	tb.Helper()
	var pdus [][]byte
	frames := 0
	for off := 0; off < len(stream); {
		b := stream[off:]
		if b[0] == 0x30 && frames == 1 {
			off += derLength(tb, b)
			continue
		}
		switch tpkt.Detect(b[0]) {
		case tpkt.KindTPKT:
			n, err := tpkt.FrameLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: TPKT frame: %v", off, err)
			}
			frames++
			off += n
		case tpkt.KindFastPath:
			n, _, err := tpkt.FastPathLength(b)
			if err != nil || n > len(b) {
				tb.Fatalf("offset %d: fast-path PDU: %v", off, err)
			}
			pdus = append(pdus, b[:n])
			off += n
		default:
			tb.Fatalf("offset %d: unknown first byte 0x%02x", off, b[0])
		}
	}
	return pdus
}

func derLength(tb testing.TB, b []byte) int {
	tb.Helper()
	l, hl := int(b[1]), 2
	if l&0x80 != 0 {
		k := l & 0x7F
		l = 0
		for _, c := range b[2 : 2+k] {
			l = l<<8 | int(c)
		}
		hl += k
	}
	return hl + l
}

// splitPDUs splits a golden file (fast-path PDUs back to back) into PDUs.
func splitPDUs(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
	var pdus [][]byte
	for r := bytes.NewReader(b); ; {
		kind, pdu, err := tpkt.ReadPDU(r, 0)
		if errors.Is(err, io.EOF) {
			return pdus
		}
		if err != nil {
			tb.Fatalf("golden file: %v", err)
		}
		if kind != tpkt.KindFastPath {
			tb.Fatalf("golden file holds a %s PDU", kind)
		}
		pdus = append(pdus, pdu)
	}
}

func readGolden(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatalf("read golden file: %v", err)
	}
	return splitPDUs(tb, b)
}

// TestCaptureExtraction checks testdata/golden/<capture>.<dir>.fastpath.bin (the capture's
// fast-path PDUs, back to back) against the captures, or rewrites them and the fuzz seeds with
// -update.
func TestCaptureExtraction(t *testing.T) {
	if _, err := os.Stat(capturesDir); err != nil {
		t.Skipf("captures not available: %v", err)
	}
	for _, name := range captureNames {
		for _, dir := range []string{"c2s", "s2c"} {
			stream, err := os.ReadFile(filepath.Join(capturesDir, name, dir+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			pdus := fastPathPDUs(t, stream)
			got := bytes.Join(pdus, nil)
			path := filepath.Join("testdata", "golden", name+"."+dir+".fastpath.bin")
			if *update {
				writeFile(t, path, got)
				target := map[string]string{"c2s": "FuzzParseFastPathInput", "s2c": "FuzzParseFastPathOutput"}[dir]
				seen := map[string]bool{}
				for i, p := range pdus {
					key := fmt.Sprintf("%x", p[:min(len(p), 5)])
					if seen[key] {
						continue
					}
					seen[key] = true
					writeFile(t, filepath.Join("testdata", "fuzz", target, fmt.Sprintf("%s-%03d", name, i)),
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
