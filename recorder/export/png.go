package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// IndexName is the index of a PNG export: a header line, then one line per PNG file with the
// frame's number (that of frame-NNNNNN.png), the time it shows from and for how long, in
// milliseconds, tab-separated.
const IndexName = "frames.tsv"

// FrameName returns the file name of PNG frame n (from 1).
func FrameName(n int) string { return fmt.Sprintf("frame-%06d.png", n) }

// pngSink writes changed frames as PNG files, encoded by a few goroutines, into a temporary
// folder beside the output that becomes the output at the end. Folder and files are private
// (0700, 0600): they show what the recording shows.
type pngSink struct {
	output, tmp string
	res         *Result

	index   *os.File
	tsv     *bufio.Writer
	prev    *image.RGBA // the last picture written
	pending struct {
		n  int
		at time.Duration
	}

	jobs chan pngJob
	free chan *image.RGBA
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	fail chan struct{} // closed at the first error of a worker
}

type pngJob struct {
	n   int
	img *image.RGBA
}

func newPNGSink(output string, res *Result) (*pngSink, error) {
	output = filepath.Clean(output)
	if entries, err := os.ReadDir(output); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("export: output folder %s is not empty", output)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("export: output folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(output), "."+filepath.Base(output)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("export: output folder: %w", err)
	}
	index, err := os.OpenFile(filepath.Join(tmp, IndexName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("export: %w", err)
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	p := &pngSink{output: output, tmp: tmp, res: res, index: index, tsv: bufio.NewWriter(index),
		jobs: make(chan pngJob), free: make(chan *image.RGBA, workers+1), fail: make(chan struct{})}
	for range workers + 1 {
		p.free <- nil
	}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	_, _ = p.tsv.WriteString("frame\toffset_ms\tduration_ms\n")
	return p, nil
}

func (p *pngSink) work() {
	defer p.wg.Done()
	var enc pngEncoder
	var buf bytes.Buffer
	for j := range p.jobs {
		buf.Reset()
		err := enc.encode(&buf, j.img)
		if err == nil {
			err = os.WriteFile(filepath.Join(p.tmp, FrameName(j.n)), buf.Bytes(), 0o600)
		}
		p.free <- j.img
		if err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = fmt.Errorf("write %s: %w", FrameName(j.n), err)
				close(p.fail)
			}
			p.mu.Unlock()
		}
	}
}

func (p *pngSink) workerErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pngSink) frame(img *image.RGBA, at time.Duration, changed bool) error {
	if p.prev == nil {
		b := img.Bounds()
		p.res.Width, p.res.Height = b.Dx(), b.Dy()
	}
	if !changed || p.prev != nil && p.prev.Bounds() == img.Bounds() && bytes.Equal(p.prev.Pix, img.Pix) {
		return nil
	}
	var dst *image.RGBA
	select {
	case dst = <-p.free:
	case <-p.fail:
		return p.workerErr()
	}
	if dst == nil || dst.Bounds() != img.Bounds() {
		dst = image.NewRGBA(img.Bounds())
	}
	copy(dst.Pix, img.Pix)
	if p.prev == nil || p.prev.Bounds() != img.Bounds() {
		p.prev = image.NewRGBA(img.Bounds())
	}
	copy(p.prev.Pix, img.Pix)
	p.res.Frames++
	p.line(at)
	p.pending.n, p.pending.at = p.res.Frames, at
	select {
	case p.jobs <- pngJob{n: p.res.Frames, img: dst}:
		return nil
	case <-p.fail:
		return p.workerErr()
	}
}

// line writes the index line of the pending frame, which shows until until.
func (p *pngSink) line(until time.Duration) {
	if p.pending.n == 0 {
		return
	}
	_, _ = fmt.Fprintf(p.tsv, "%d\t%d\t%d\n", p.pending.n, p.pending.at.Milliseconds(), (until - p.pending.at).Milliseconds())
}

func (p *pngSink) stop() error {
	if p.jobs != nil {
		close(p.jobs)
		p.wg.Wait()
		p.jobs = nil
	}
	return p.workerErr()
}

func (p *pngSink) finish(end time.Duration) error {
	if err := p.stop(); err != nil {
		return err
	}
	p.line(end)
	if err := p.tsv.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", IndexName, err)
	}
	if err := p.index.Close(); err != nil {
		return fmt.Errorf("write %s: %w", IndexName, err)
	}
	// An empty folder at output is replaced (os.Rename refuses to).
	if err := os.Remove(p.output); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := os.Rename(p.tmp, p.output); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	return nil
}

func (p *pngSink) abort() {
	_ = p.stop()
	_ = p.index.Close()
	_ = os.RemoveAll(p.tmp)
}
