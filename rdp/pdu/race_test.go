//go:build race

package pdu

// raceEnabled: the race detector changes escape analysis, so allocation counts differ.
const raceEnabled = true
