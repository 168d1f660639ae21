package storage

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileSync writes a file durably: to a temporary name, fsynced, renamed, folder fsynced.
func writeFileSync(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: spool: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("storage: spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("storage: spool: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: spool: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("storage: spool: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

func appendSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("storage: journal: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("storage: journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("storage: journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: journal: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: sync folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: sync folder: %w", err)
	}
	return nil
}
