package proxy

import (
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
)

// A tap that cannot keep up drops PDUs without blocking and keeps runs of them for the
// manifest: drops less than a second apart are one run, and the list is bounded.
func TestTapDropsAreListed(t *testing.T) {
	tp := &tap{queue: make(chan capture.Record, 1)} // nobody drains it
	if !tp.add(capture.TargetToClient, tpkt.KindFastPath, []byte{1, 2, 3}) {
		t.Fatal("the first PDU did not fit an empty queue")
	}
	for range 3 {
		if tp.add(capture.TargetToClient, tpkt.KindFastPath, make([]byte, 100)) {
			t.Fatal("a full queue took a PDU")
		}
	}
	runs := tp.drops.list()
	if len(runs) != 1 || runs[0].Records != 3 || runs[0].Bytes != 300 || tp.dropped.Load() != 3 {
		t.Fatalf("runs %+v, dropped %d", runs, tp.dropped.Load())
	}

	// The queue is bounded in bytes too: big PDUs fill it before its count does.
	big := &tap{queue: make(chan capture.Record, tapQueue)}
	accepted := 0
	for big.add(capture.TargetToClient, tpkt.KindTPKT, make([]byte, 60<<10)) {
		accepted++
	}
	if accepted != tapQueueBytes/(60<<10) || big.pending.Load() > tapQueueBytes {
		t.Fatalf("%d PDUs of 60 KiB queued (%d bytes), want at most %d bytes", accepted, big.pending.Load(), tapQueueBytes)
	}

	var d dropLog
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	d.note(t0, 10)
	d.note(t0.Add(500*time.Millisecond), 10)
	d.note(t0.Add(3*time.Second), 10) // a second run
	if runs := d.list(); len(runs) != 2 || runs[0].Records != 2 || !runs[0].To.Equal(t0.Add(500*time.Millisecond)) || runs[1].Records != 1 {
		t.Fatalf("runs %+v", runs)
	}
	for i := range 2 * maxDropRuns {
		d.note(t0.Add(time.Duration(10+2*i)*time.Second), 1)
	}
	runs = d.list()
	if len(runs) != maxDropRuns {
		t.Fatalf("%d runs, want at most %d", len(runs), maxDropRuns)
	}
	var total int64
	for _, r := range runs {
		total += r.Records
	}
	if total != 3+2*maxDropRuns {
		t.Fatalf("%d drops listed, want %d", total, 3+2*maxDropRuns)
	}
}
