//go:build !unix

package embedded

// lockDir is a no-op where flock is not available.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
