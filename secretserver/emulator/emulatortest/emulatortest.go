// Package emulatortest starts the Secret Server emulator for a test: seeded from YAML, on a
// free loopback port, closed when the test ends.
package emulatortest

import (
	"testing"

	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
)

// Start starts an emulator seeded with seedYAML (hack/demo/seed.yaml's format).
func Start(tb testing.TB, seedYAML string, opts emulator.Options) *emulator.Server {
	tb.Helper()
	seed, err := emulator.ParseSeed([]byte(seedYAML))
	if err != nil {
		tb.Fatal(err)
	}
	ss, err := emulator.Start(seed, opts, tb.TempDir(), "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ss.Close() })
	return ss
}
