package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
)

// Local is a recording read from local files. Its Reader verifies every chunk and the chain as
// it reads (a bad chunk is a *capture.ChunkError naming it).
type Local struct {
	*capture.Reader
	// Manifest is the recording's manifest.json, nil when the folder has none.
	Manifest *capture.Manifest
	files    *capture.Sequence
}

// OpenLocal opens a recording on disk, which is one of:
//   - a folder with manifest.json and the chunk files it lists (chunk-000001.zst, …), as a
//     recording downloaded from the bucket lays them out;
//   - a folder of chunk files without a manifest, as the proxy's spool keeps a recording that
//     has not been uploaded yet: its chunk-*.zst files, in order;
//   - a file: the chunks of a recording one after another (the file form of a recording).
//
// Close it when done.
func OpenLocal(name string) (*Local, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	files := &chunkFiles{}
	l := &Local{}
	switch {
	case !st.IsDir():
		files.paths = []string{name}
	default:
		b, err := os.ReadFile(filepath.Join(name, storage.ManifestKey("", "")))
		switch {
		case err == nil:
			if l.Manifest, err = capture.ParseManifest(b); err != nil {
				return nil, fmt.Errorf("open recording: %w", err)
			}
			for _, c := range l.Manifest.Chunks {
				files.paths = append(files.paths, filepath.Join(name, path.Base(c.Key)))
				files.sizes = append(files.sizes, c.Size)
			}
		case errors.Is(err, os.ErrNotExist):
			matches, err := filepath.Glob(filepath.Join(name, "chunk-*.zst"))
			if err != nil {
				return nil, fmt.Errorf("open recording: %w", err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("open recording: %s has neither %s nor chunk files", name, storage.ManifestKey("", ""))
			}
			slices.Sort(matches) // chunk-NNNNNN.zst: names sort in sequence order
			files.paths = matches
		default:
			return nil, fmt.Errorf("open recording: %w", err)
		}
	}
	l.files = files.sequence()
	if l.Reader, err = capture.NewReader(l.files); err != nil {
		return nil, err
	}
	return l, nil
}

// Close releases the reader and closes the open file.
func (l *Local) Close() {
	l.Reader.Close()
	_ = l.files.Close()
}

// chunkFiles reads files one after another, each limited to its size when sizes are known.
type chunkFiles struct {
	paths []string
	sizes []int64
}

// sequence returns the files as one stream.
func (c *chunkFiles) sequence() *capture.Sequence {
	return capture.NewSequence(func() (io.ReadCloser, error) {
		if len(c.paths) == 0 {
			return nil, io.EOF
		}
		name := c.paths[0]
		c.paths = c.paths[1:]
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		if c.sizes == nil {
			return f, nil
		}
		size := c.sizes[0]
		c.sizes = c.sizes[1:]
		if size <= 0 || size > capture.MaxChunkSize {
			_ = f.Close()
			return nil, fmt.Errorf("%s: size %d out of range", filepath.Base(name), size)
		}
		return capture.LimitSource(f, size), nil
	})
}
