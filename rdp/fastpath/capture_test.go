package fastpath

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/test/captures"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/fuzz seeds from the captures")

func readGolden(tb testing.TB, name string) [][]byte {
	tb.Helper()
	pdus := captures.SplitPDUs(tb, captures.ReadGolden(tb, name))
	for i, p := range pdus {
		if tpkt.Detect(p[0]) != tpkt.KindFastPath {
			tb.Fatalf("golden file %s: PDU %d is not fast-path", name, i)
		}
	}
	return pdus
}

// TestCaptureExtraction checks testdata/golden/<capture>.<dir>.fastpath.bin (the capture's
// fast-path PDUs, back to back) against the captures, or rewrites them and the fuzz seeds with
// -update.
func TestCaptureExtraction(t *testing.T) {
	for _, name := range captures.Names {
		for _, dir := range []string{"c2s", "s2c"} {
			pdus := captures.Of(captures.Walk(t, captures.ReadRaw(t, name, dir)), captures.FastPath)
			got := bytes.Join(pdus, nil)
			path := filepath.Join("testdata", "golden", name+"."+dir+".fastpath.bin")
			if *update {
				captures.WriteFile(t, path, got)
				target := map[string]string{"c2s": "FuzzParseFastPathInput", "s2c": "FuzzParseFastPathOutput"}[dir]
				seen := map[string]bool{}
				for i, p := range pdus {
					key := fmt.Sprintf("%x", p[:min(len(p), 5)])
					if seen[key] {
						continue
					}
					seen[key] = true
					captures.WriteSeed(t, target, fmt.Sprintf("%s-%03d", name, i), p)
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
