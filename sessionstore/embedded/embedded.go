// Package embedded is the Session store of standalone mode: Sessions in memory, every change
// appended to a journal file (JSON lines) and synced before the call returns, the journal replayed
// on open and compacted when it grows. One process owns a journal at a time (a lock file).
package embedded

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// JournalName is the journal's file name inside the state directory.
const JournalName = "sessions.jsonl"

// maxRecordSize bounds one journal line.
const maxRecordSize = 1 << 20

// Options tune a Store.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// NoSync skips fsync after each write (faster, loses the last writes on a power cut).
	NoSync bool
}

// Store is the embedded Session store.
type Store struct {
	mu       sync.Mutex
	sessions map[string]*v1alpha1.Session
	journal  *os.File
	records  int // lines in the journal
	path     string
	opts     Options
	unlock   func() error
}

var _ sessionstore.Store = (*Store)(nil)

type record struct {
	Op      string            `json:"op"` // "put" or "delete"
	Name    string            `json:"name,omitempty"`
	Session *v1alpha1.Session `json:"session,omitempty"`
}

// Open opens (or creates) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{sessions: map[string]*v1alpha1.Session{}, path: filepath.Join(dir, JournalName), opts: opts, unlock: unlock}
	ok := false
	defer func() {
		if !ok {
			_ = unlock()
		}
	}()
	if err := s.replay(); err != nil {
		return nil, err
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// replay reads the journal. A torn last line (a crash mid-write) is dropped; a bad line elsewhere
// is an error, so nothing is silently lost.
func (s *Store) replay() error {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read session journal: %w", err)
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			if i == len(lines)-1 {
				break // torn final write
			}
			return fmt.Errorf("session journal %s line %d: %w", s.path, i+1, err)
		}
		switch {
		case r.Op == "put" && r.Session != nil:
			s.sessions[r.Session.Name] = r.Session
		case r.Op == "delete":
			delete(s.sessions, r.Name)
		default:
			return fmt.Errorf("session journal %s line %d: unknown record %q", s.path, i+1, r.Op)
		}
	}
	return nil
}

// compact rewrites the journal with one record per live Session, atomically. On failure the old
// journal stays in use.
func (s *Store) compact() error {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("compact session journal: %w", err)
	}
	w := bufio.NewWriter(f)
	names := make([]string, 0, len(s.sessions))
	for name := range s.sessions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		line, err := json.Marshal(record{Op: "put", Session: s.sessions[name]})
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("compact session journal: %w", err)
		}
		_, _ = w.Write(append(line, '\n'))
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		return fmt.Errorf("compact session journal: %w", err)
	}
	journal, err := os.OpenFile(s.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open session journal: %w", err)
	}
	if s.journal != nil {
		_ = s.journal.Close() // its data is synced and replaced by the new file
	}
	s.journal = journal
	s.records = len(names)
	return nil
}

// append writes one record; the caller holds mu and applies the change to memory only on success.
func (s *Store) append(r record) error {
	if s.journal == nil {
		return errors.New("session store is closed")
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode session record: %w", err)
	}
	if len(line) > maxRecordSize {
		return fmt.Errorf("session record of %d bytes exceeds %d", len(line), maxRecordSize)
	}
	if _, err := s.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write session journal: %w", err)
	}
	if !s.opts.NoSync {
		if err := s.journal.Sync(); err != nil {
			return fmt.Errorf("sync session journal: %w", err)
		}
	}
	s.records++
	return nil
}

// maybeCompact compacts a journal that has grown well past the live Sessions. A failed compaction
// leaves the old journal in use and is tried again on a later write.
func (s *Store) maybeCompact() {
	if s.records > 2*len(s.sessions)+1024 {
		_ = s.compact()
	}
}

func (s *Store) put(sess *v1alpha1.Session) error {
	sess.ResourceVersion = fmt.Sprint(s.records + 1)
	if err := s.append(record{Op: "put", Session: sess}); err != nil {
		return err
	}
	s.sessions[sess.Name] = sess
	s.maybeCompact()
	return nil
}

// Create implements sessionstore.Store.
func (s *Store) Create(_ context.Context, sess *v1alpha1.Session) error {
	if err := sessionstore.Validate(sess); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.Name]; ok {
		return fmt.Errorf("%w: %s", sessionstore.ErrExists, sess.Name)
	}
	c := sess.DeepCopy()
	c.CreationTimestamp.Time = s.opts.Now().Truncate(time.Second)
	if c.Status.Phase == "" {
		c.Status.Phase = v1alpha1.SessionIssued
	}
	if err := s.put(c); err != nil {
		return err
	}
	c.DeepCopyInto(sess)
	return nil
}

// Get implements sessionstore.Store.
func (s *Store) Get(_ context.Context, name string) (*v1alpha1.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", sessionstore.ErrNotFound, name)
	}
	return sess.DeepCopy(), nil
}

// List implements sessionstore.Store.
func (s *Store) List(_ context.Context) ([]v1alpha1.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]v1alpha1.Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, *sess.DeepCopy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Claim implements sessionstore.Store.
func (s *Store) Claim(_ context.Context, t ticket.Ticket, req sessionstore.ClaimRequest) (*v1alpha1.Session, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.sessions[t.ID]
	if !ok {
		return nil, false, fmt.Errorf("%w: %s", sessionstore.ErrNotFound, t.ID)
	}
	next := cur.DeepCopy()
	d := sessionstore.Decide(next, t, req, s.opts.Now())
	if d.Write {
		if err := s.put(next); err != nil {
			return nil, false, err
		}
	}
	if d.Err != nil {
		return nil, false, fmt.Errorf("%w: %s", d.Err, t.ID)
	}
	return next.DeepCopy(), d.Reused, nil
}

// UpdateStatus implements sessionstore.Store.
func (s *Store) UpdateStatus(_ context.Context, name string, mutate func(*v1alpha1.SessionStatus) error) (*v1alpha1.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.sessions[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", sessionstore.ErrNotFound, name)
	}
	next := cur.DeepCopy()
	if err := mutate(&next.Status); err != nil {
		return nil, err
	}
	if err := s.put(next); err != nil {
		return nil, err
	}
	return next.DeepCopy(), nil
}

// Delete implements sessionstore.Store.
func (s *Store) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[name]; !ok {
		return nil
	}
	if err := s.append(record{Op: "delete", Name: name}); err != nil {
		return err
	}
	delete(s.sessions, name)
	s.maybeCompact()
	return nil
}

// Close syncs and closes the journal and releases the directory.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.journal != nil {
		err = errors.Join(s.journal.Sync(), s.journal.Close())
		s.journal = nil
	}
	return errors.Join(err, s.unlock())
}

var _ io.Closer = (*Store)(nil)
