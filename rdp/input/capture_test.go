package input

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and testdata/fuzz seeds from the captures")

func readGolden(tb testing.TB, name string) [][]byte {
	tb.Helper()
	return captures.SplitPDUs(tb, captures.ReadGolden(tb, name))
}

// TestCaptureExtraction checks testdata/golden/<capture>.c2s.fastpath.bin (the client's
// fast-path PDUs, back to back) against the captures, or rewrites them and the fuzz seeds with
// -update. None of the captures has a slow-path Input PDU (FreeRDP uses fast-path input).
func TestCaptureExtraction(t *testing.T) {
	for _, name := range captures.Names {
		frames := captures.Walk(t, captures.ReadRaw(t, name, "c2s"))
		fast, slow := captures.Of(frames, captures.FastPath), captures.Of(frames, captures.SendData)
		for _, s := range slow {
			if _, err := ParseSlowPathPDU(s); err == nil {
				t.Errorf("%s: unexpected slow-path Input PDU", name)
			}
		}
		got := bytes.Join(fast, nil)
		path := filepath.Join("testdata", "golden", name+".c2s.fastpath.bin")
		if *update {
			captures.WriteFile(t, path, got)
			seen := map[string]bool{}
			for i, p := range fast {
				key := fmt.Sprintf("%x", p[:min(len(p), 4)])
				if seen[key] {
					continue
				}
				seen[key] = true
				captures.WriteSeed(t, "FuzzParseFastPathInput", fmt.Sprintf("%s-%03d", name, i), p)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from the capture (%v); run with -update", path, err)
		}
	}
}
