// Package playback positions a recording at any moment for the browser player: it fetches the
// chunks a moment needs (through a Fetch function: presigned URLs in the browser), verifies each
// one — size, SHA-256 from the manifest, the hash chain to the chunk before — decodes it, and
// feeds the records to a recorder/replay Screen.
//
// Playing forward applies the records since the last position. Seeking backwards restores the
// nearest snapshot before the moment and applies the records after it; snapshots are taken
// while records are applied (every SnapshotBytes of PDUs), so a seek anywhere in an hour-long
// recording replays at most a few megabytes once the recording has been played or crossed. A
// snapshot is the Screen's desktop and pointer, and the few records of state a Screen needs to
// go on (I/O channel, palette): restoring it feeds a new Screen a Demand Active of the
// desktop's size and the desktop as uncompressed 32 bpp bitmap updates — lossless.
//
// A chunk that fails verification is skipped with a warning, the picture goes on with the next
// one; a chunk that cannot be fetched stops Seek with an error, and a later Seek tries again.
// A Player is not safe for concurrent use, except that Prefetch may run beside the others.
package playback

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"slices"
	"sync"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/replay"
)

// Defaults of Options.
const (
	DefaultSnapshotBytes    = 8 << 20
	DefaultMaxSnapshotBytes = 256 << 20
	DefaultMaxSnapshots     = 48
	DefaultCacheBytes       = 64 << 20
	// DefaultYieldEvery is how long Seek works between calls to Options.Yield.
	DefaultYieldEvery = 40 * time.Millisecond
)

// Chunk is a chunk as the manifest lists it.
type Chunk struct {
	Seq    uint32
	Size   int64
	SHA256 string // hex, of the whole chunk
	First  time.Time
	Last   time.Time
}

// Options of a Player.
type Options struct {
	// Start is the recording's start: position 0.
	Start time.Time
	// End is the recording's end; the last chunk's last record when later. The duration is
	// rounded up to whole milliseconds.
	End time.Time
	// Chunks in order of sequence number; gaps (lost chunks) are allowed.
	Chunks []Chunk
	// Fetch returns the bytes of chunk seq.
	Fetch func(ctx context.Context, seq uint32) ([]byte, error)
	// SnapshotBytes of PDUs are applied between two snapshots (DefaultSnapshotBytes when 0);
	// the spacing doubles each time the snapshots would exceed MaxSnapshots or
	// MaxSnapshotBytes (defaults when 0).
	SnapshotBytes    int64
	MaxSnapshots     int
	MaxSnapshotBytes int64
	// CacheBytes of fetched chunks are kept for seeking back (DefaultCacheBytes when 0).
	CacheBytes int64
	// Yield, when set, is called about every YieldEvery (DefaultYieldEvery when 0) while Seek
	// works, so that a single-threaded host (WebAssembly in a browser) stays responsive.
	Yield      func()
	YieldEvery time.Duration
	// Now is the clock for YieldEvery; time.Now when nil.
	Now func() time.Time
}

// Player positions a recording.
type Player struct {
	opts   Options
	end    time.Time
	dec    *capture.Decoder
	hashes []capture.Hash // of opts.Chunks
	cache  *chunkCache

	screen *replay.Screen
	// cursor: the next record to apply is recs[ri] of chunk ci; recs is nil when chunk ci is
	// not decoded yet.
	ci, ri int
	recs   []capture.Record
	pos    time.Time // the time played up to (records at or before it are applied)
	state  carried
	offset int64       // PDU bytes applied from the start to the cursor
	every  int64       // PDU bytes between snapshots
	snaps  []*snapshot // in order
	warned map[uint32]bool
	warns  []string
}

// carried is what a snapshot must give a new Screen besides the picture.
type carried struct {
	connectResponse []byte // the last MCS Connect Response record
	ioChannel       uint16 // as it says; 0 for 1003
	palette         []byte // the last palette update's TS_UPDATE_PALETTE_DATA
	fragmenting     bool   // a fast-path update is half reassembled: no snapshot now
}

// channel is the I/O channel.
func (c *carried) channel() uint16 {
	if c.ioChannel == 0 {
		return defaultIOChannel
	}
	return c.ioChannel
}

// defaultIOChannel is the I/O channel until a Connect Response says otherwise, as in replay.
const defaultIOChannel = 1003

type snapshot struct {
	ci      int // the chunk to apply next
	offset  int64
	pos     time.Time
	state   carried
	desktop *image.RGBA // nil before the first Demand Active
	pointer image.Point
	visible bool
}

// New returns a Player at position 0. Close it when done.
func New(opts Options) (*Player, error) {
	if opts.Fetch == nil {
		return nil, errors.New("playback: Fetch is required")
	}
	if opts.SnapshotBytes <= 0 {
		opts.SnapshotBytes = DefaultSnapshotBytes
	}
	if opts.MaxSnapshots <= 0 {
		opts.MaxSnapshots = DefaultMaxSnapshots
	}
	if opts.MaxSnapshotBytes <= 0 {
		opts.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.YieldEvery <= 0 {
		opts.YieldEvery = DefaultYieldEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Player{opts: opts, end: opts.End, cache: newChunkCache(opts.CacheBytes), every: opts.SnapshotBytes, warned: map[uint32]bool{}}
	p.hashes = make([]capture.Hash, len(opts.Chunks))
	for i, c := range opts.Chunks {
		if i > 0 && c.Seq <= opts.Chunks[i-1].Seq {
			return nil, fmt.Errorf("playback: chunk %d out of order", c.Seq)
		}
		h, err := hex.DecodeString(c.SHA256)
		if err != nil || len(h) != len(capture.Hash{}) {
			return nil, fmt.Errorf("playback: chunk %d: bad sha256", c.Seq)
		}
		copy(p.hashes[i][:], h)
		if c.Last.After(p.end) {
			p.end = c.Last
		}
	}
	// Whole milliseconds, rounded up: a page that seeks to the duration in milliseconds reaches
	// the last record.
	d := max(p.end.Sub(opts.Start), 0)
	p.end = opts.Start.Add((d + time.Millisecond - 1) / time.Millisecond * time.Millisecond)
	dec, err := capture.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("playback: %w", err)
	}
	p.dec = dec
	p.reset()
	return p, nil
}

// Close releases the decoder.
func (p *Player) Close() { p.dec.Close() }

// Duration is the recording's length, in whole milliseconds (rounded up).
func (p *Player) Duration() time.Duration { return p.end.Sub(p.opts.Start) }

// Position is where the picture is.
func (p *Player) Position() time.Duration { return max(p.pos.Sub(p.opts.Start), 0) }

// Size is the desktop's size; 0×0 before the first Demand Active.
func (p *Player) Size() (w, h int) { return p.screen.Size() }

// Frame renders the picture (desktop and pointer) into dst, reallocated when nil or of another
// size; nil before the first Demand Active.
func (p *Player) Frame(dst *image.RGBA) *image.RGBA { return p.screen.Render(dst) }

// Stats are the replay counts since the last restore.
func (p *Player) Stats() replay.Stats { return p.screen.Stats() }

// Warnings says what could not be played: chunks that failed verification or are missing.
func (p *Player) Warnings() []string { return slices.Clone(p.warns) }

// Snapshots is how many snapshots are kept.
func (p *Player) Snapshots() int { return len(p.snaps) }

func (p *Player) reset() {
	p.screen = replay.NewScreen()
	p.ci, p.ri, p.recs = 0, 0, nil
	p.pos = p.opts.Start
	p.state = carried{}
	p.offset = 0
}

// Seek moves the picture to at (from the start, clamped to the recording) and reports whether
// it changed. On error (a chunk could not be fetched, ctx ended) the picture stays wherever it
// got to, consistent, and Position says where.
func (p *Player) Seek(ctx context.Context, at time.Duration) (changed bool, err error) {
	at = min(max(at, 0), p.Duration())
	target := p.opts.Start.Add(at)
	if target.Before(p.pos) || p.snapshotAhead(target) {
		changed = p.restore(target)
	}
	deadline := p.opts.Now().Add(p.opts.YieldEvery)
	applied := 0
	for p.ci < len(p.opts.Chunks) {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		if p.recs == nil {
			if p.opts.Chunks[p.ci].First.After(target) {
				break // nothing of this chunk is due yet
			}
			recs, err := p.load(ctx, p.ci)
			if err != nil {
				return changed, err
			}
			p.recs, p.ri = recs, 0 // nil and empty when skipped
		}
		for p.ri < len(p.recs) && !p.recs[p.ri].Time.After(target) {
			r := p.recs[p.ri]
			p.ri++
			if c, _ := p.screen.Apply(r); c {
				changed = true
			}
			p.track(r)
			p.offset += int64(len(r.PDU))
			p.pos = r.Time
			applied++
			atBoundary := p.ri == len(p.recs) || p.recs[p.ri].Time.After(r.Time) // stop only between moments
			if p.opts.Yield != nil && applied%32 == 0 && atBoundary && p.opts.Now().After(deadline) {
				p.opts.Yield()
				if err := ctx.Err(); err != nil {
					return changed, err
				}
				deadline = p.opts.Now().Add(p.opts.YieldEvery)
			}
		}
		if p.ri < len(p.recs) {
			break // the next record is after target
		}
		p.ci, p.ri, p.recs = p.ci+1, 0, nil
		p.snapshot()
	}
	p.pos = target
	return changed, nil
}

// snapshotAhead reports whether a snapshot lies far enough past the position, and at or before
// target, that a jump forward should start there rather than apply everything up to it.
func (p *Player) snapshotAhead(target time.Time) bool {
	s := p.nearest(target)
	return s != nil && s.ci > p.ci && s.offset-p.offset > p.every/2
}

// nearest returns the last snapshot at or before t.
func (p *Player) nearest(t time.Time) *snapshot {
	i, _ := slices.BinarySearchFunc(p.snaps, t, func(s *snapshot, t time.Time) int {
		if s.pos.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return nil
	}
	return p.snaps[i-1]
}

// restore puts the picture at the last snapshot at or before target, or at the start.
func (p *Player) restore(target time.Time) bool {
	s := p.nearest(target)
	p.reset()
	if s == nil {
		return true
	}
	p.ci, p.offset, p.pos, p.state = s.ci, s.offset, s.pos, s.state
	p.state.connectResponse = slices.Clone(s.state.connectResponse)
	p.state.palette = slices.Clone(s.state.palette)
	for _, r := range restoreRecords(s) {
		_, _ = p.screen.Apply(r)
	}
	return true
}

// snapshot keeps the picture at the cursor (a chunk boundary) when the snapshots around it are
// SnapshotBytes away, thinning them out when there are too many.
func (p *Player) snapshot() {
	if p.state.fragmenting {
		return
	}
	i, found := slices.BinarySearchFunc(p.snaps, p.ci, func(s *snapshot, ci int) int { return s.ci - ci })
	switch {
	case found:
		return
	case i > 0 && p.offset-p.snaps[i-1].offset < p.every, i == 0 && p.offset < p.every:
		return
	case i < len(p.snaps) && p.snaps[i].offset-p.offset < p.every/2:
		return
	}
	s := &snapshot{ci: p.ci, offset: p.offset, pos: p.pos, state: p.state}
	s.state.connectResponse = slices.Clone(p.state.connectResponse)
	s.state.palette = slices.Clone(p.state.palette)
	if d := p.screen.Desktop(); d != nil {
		s.desktop = &image.RGBA{Pix: slices.Clone(d.Pix), Stride: d.Stride, Rect: d.Rect}
	}
	s.pointer, s.visible = p.screen.Pointer()
	p.snaps = slices.Insert(p.snaps, i, s)
	for len(p.snaps) > 1 && (len(p.snaps) > p.opts.MaxSnapshots || p.snapshotBytes() > p.opts.MaxSnapshotBytes) {
		kept := make([]*snapshot, 0, len(p.snaps)/2+1)
		for j, s := range p.snaps {
			if j%2 == 1 {
				kept = append(kept, s)
			}
		}
		p.snaps = kept
		p.every *= 2
	}
}

func (p *Player) snapshotBytes() int64 {
	var n int64
	for _, s := range p.snaps {
		if s.desktop != nil {
			n += int64(len(s.desktop.Pix))
		}
	}
	return n
}

// load returns the records of chunk i, fetched (or from the cache) and verified; nil with a
// warning when it fails verification.
func (p *Player) load(ctx context.Context, i int) ([]capture.Record, error) {
	c := p.opts.Chunks[i]
	data, err := p.fetch(ctx, i)
	if err != nil {
		return nil, err
	}
	info, recs, err := p.dec.DecodeChunk(data)
	if err == nil {
		err = p.checkChain(i, info)
	}
	if err != nil {
		p.cache.drop(c.Seq)
		p.warn(c.Seq, fmt.Sprintf("chunk %d failed verification and is skipped: %v", c.Seq, err))
		return nil, nil
	}
	if i > 0 && p.opts.Chunks[i-1].Seq != c.Seq-1 || i == 0 && c.Seq != 1 {
		p.warn(c.Seq, fmt.Sprintf("chunks before %d are missing: the picture may lack what they drew", c.Seq))
	}
	return recs, nil
}

// Prefetch fetches the chunk that holds the moment at (and the one after it) into the cache.
// It may run beside Seek.
func (p *Player) Prefetch(ctx context.Context, at time.Duration) error {
	target := p.opts.Start.Add(at)
	i, _ := slices.BinarySearchFunc(p.opts.Chunks, target, func(c Chunk, t time.Time) int {
		if c.Last.Before(t) {
			return -1
		}
		return 1
	})
	for j := i; j < min(i+2, len(p.opts.Chunks)); j++ {
		if _, err := p.fetch(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// fetch returns the bytes of chunk i, checked against the manifest's size and hash.
func (p *Player) fetch(ctx context.Context, i int) ([]byte, error) {
	c := p.opts.Chunks[i]
	if b, ok := p.cache.get(c.Seq); ok {
		return b, nil
	}
	b, err := p.opts.Fetch(ctx, c.Seq)
	if err != nil {
		return nil, fmt.Errorf("fetch chunk %d: %w", c.Seq, err)
	}
	if int64(len(b)) != c.Size {
		return nil, fmt.Errorf("chunk %d: %d bytes, the manifest says %d", c.Seq, len(b), c.Size)
	}
	if capture.Hash(sha256.Sum256(b)) != p.hashes[i] {
		return nil, fmt.Errorf("chunk %d: SHA-256 differs from the manifest's", c.Seq)
	}
	p.cache.put(c.Seq, b)
	return b, nil
}

// checkChain checks that chunk i is the one the manifest lists and links to the chunk before.
func (p *Player) checkChain(i int, info capture.ChunkInfo) error {
	c := p.opts.Chunks[i]
	switch {
	case info.Seq != c.Seq:
		return fmt.Errorf("sequence number %d, the manifest says %d", info.Seq, c.Seq)
	case c.Seq == 1 && info.PrevHash != capture.Hash{}:
		return errors.New("the first chunk links to a previous one")
	case i > 0 && p.opts.Chunks[i-1].Seq == c.Seq-1 && info.PrevHash != p.hashes[i-1]:
		return errors.New("chain broken: previous-chunk hash mismatch")
	}
	return nil
}

func (p *Player) warn(seq uint32, msg string) {
	if p.warned[seq] {
		return
	}
	p.warned[seq] = true
	p.warns = append(p.warns, msg)
}

// track follows what a Screen keeps that a snapshot must carry.
func (p *Player) track(r capture.Record) {
	if r.Direction != capture.TargetToClient {
		return
	}
	if r.Kind == capture.KindFastPath {
		out, err := fastpath.ParseOutput(r.PDU)
		if err != nil {
			return
		}
		for _, u := range out.Updates {
			switch u.Fragmentation {
			case fastpath.FragmentFirst, fastpath.FragmentNext:
				p.state.fragmenting = true
			default:
				p.state.fragmenting = false
			}
			if u.Code == fastpath.UpdatePalette && u.Fragmentation == fastpath.FragmentSingle && !u.Compressed() {
				p.state.palette = slices.Clone(u.Data)
			}
		}
		return
	}
	_, m, err := mcs.ReadPDU(r.PDU)
	if err != nil {
		return
	}
	switch m := m.(type) {
	case *mcs.ConnectResponse:
		p.state.connectResponse = slices.Clone(r.PDU)
		if _, sd, err := m.ServerData(); err == nil {
			if n, err := sd.Network(); err == nil && n.MCSChannelID != 0 {
				p.state.ioChannel = n.MCSChannelID
			}
		}
	case *mcs.SendDataIndication:
		if m.ChannelID != p.state.channel() {
			return
		}
		pdus, err := pdu.ParseSharePDUs(m.Data)
		if err != nil {
			return
		}
		for _, sp := range pdus {
			if sp.Data != nil && sp.Data.PDUType2 == pdu.PDUType2Update && !sp.Data.Compressed() &&
				len(sp.Payload) >= 2 && binary.LittleEndian.Uint16(sp.Payload) == bitmap.UpdateTypePalette {
				p.state.palette = slices.Clone(sp.Payload)
			}
		}
	}
}

// Tiles of the restored desktop: 64×64 at 32 bpp is 16 KiB, well inside a fast-path PDU.
const tileSide = 64

// restoreRecords are the records that bring a new Screen to a snapshot: the Connect Response,
// a Demand Active of the desktop's size, the palette, the desktop in tiles, the pointer.
func restoreRecords(s *snapshot) []capture.Record {
	at := s.pos
	if at.IsZero() {
		at = time.Unix(0, 1)
	}
	var recs []capture.Record
	add := func(kind capture.Kind, b []byte) {
		recs = append(recs, capture.Record{Time: at, Direction: capture.TargetToClient, Kind: kind, PDU: b})
	}
	fast := func(code uint8, data []byte) {
		b, err := (&fastpath.OutputPDU{LongLength: true, Updates: []fastpath.Update{{Code: code, Data: data}}}).Marshal()
		if err == nil {
			add(capture.KindFastPath, b)
		}
	}
	if s.state.connectResponse != nil {
		add(capture.KindTPKT, s.state.connectResponse)
	}
	if s.desktop == nil {
		return recs
	}
	if b, err := demandActive(s); err == nil {
		add(capture.KindTPKT, b)
	}
	if s.state.palette != nil {
		fast(fastpath.UpdatePalette, s.state.palette)
	}
	r := s.desktop.Rect
	for y := r.Min.Y; y < r.Max.Y; y += tileSide {
		for x := r.Min.X; x < r.Max.X; x += tileSide {
			tile := s.desktop.SubImage(image.Rect(x, y, x+tileSide, y+tileSide).Intersect(r)).(*image.RGBA)
			data, err := bitmap.EncodeUncompressed(tile, 32)
			if err != nil {
				continue
			}
			tb := tile.Bounds()
			update, err := bitmap.AppendBitmapUpdate(nil, []bitmap.Rectangle{{
				DestLeft: uint16(tb.Min.X), DestTop: uint16(tb.Min.Y), DestRight: uint16(tb.Max.X - 1), DestBottom: uint16(tb.Max.Y - 1),
				Width: uint16(tb.Dx()), Height: uint16(tb.Dy()), BitsPerPixel: 32, Data: data,
			}})
			if err == nil {
				fast(fastpath.UpdateBitmap, update)
			}
		}
	}
	fast(fastpath.UpdatePtrPosition, binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, uint16(s.pointer.X)), uint16(s.pointer.Y)))
	if !s.visible {
		fast(fastpath.UpdatePtrNull, nil)
	}
	return recs
}

// demandActive is a Demand Active PDU, in a Send Data Indication on the I/O channel the Connect
// Response named (1003 without one), that sizes the desktop as the snapshot's.
func demandActive(s *snapshot) ([]byte, error) {
	io := s.state.channel()
	b := s.desktop.Rect
	caps := pdu.CapabilitySets{(&pdu.BitmapCapability{PreferredBitsPerPixel: 32, Receive1BitPerPixel: 1, Receive4BitsPerPixel: 1,
		Receive8BitsPerPixel: 1, DesktopWidth: uint16(b.Dx()), DesktopHeight: uint16(b.Dy())}).Capability()}
	da := &pdu.DemandActive{
		Control:          pdu.ShareControlHeader{PDUType: uint16(pdu.PDUTypeDemandActive) | pdu.ProtocolVersion, PDUSource: io - 1},
		ShareID:          0x103EA,
		SourceDescriptor: []byte("RDP\x00"),
		Capabilities:     caps,
		HasSessionID:     true,
	}
	data, err := da.Marshal()
	if err != nil {
		return nil, err
	}
	return (&mcs.SendDataIndication{SendData: mcs.SendData{Initiator: io - 1, ChannelID: io,
		Priority: mcs.PriorityHigh, Segmentation: mcs.SegmentationWhole, Data: data}}).Marshal()
}

// chunkCache keeps fetched chunks up to a byte budget, least recently used out first.
type chunkCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order []uint32 // least recently used first
	data  map[uint32][]byte
}

func newChunkCache(limit int64) *chunkCache {
	return &chunkCache{limit: limit, data: map[uint32][]byte{}}
}

func (c *chunkCache) get(seq uint32) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.data[seq]
	if ok {
		c.touch(seq)
	}
	return b, ok
}

func (c *chunkCache) put(seq uint32, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.data[seq]; ok {
		c.touch(seq)
		return
	}
	c.data[seq] = b
	c.order = append(c.order, seq)
	c.size += int64(len(b))
	for c.size > c.limit && len(c.order) > 1 {
		old := c.order[0]
		c.order = c.order[1:]
		c.size -= int64(len(c.data[old]))
		delete(c.data, old)
	}
}

func (c *chunkCache) drop(seq uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.data[seq]; ok {
		c.size -= int64(len(b))
		delete(c.data, seq)
		c.order = slices.DeleteFunc(c.order, func(s uint32) bool { return s == seq })
	}
}

func (c *chunkCache) touch(seq uint32) {
	if i := slices.Index(c.order, seq); i >= 0 {
		c.order = append(append(c.order[:i:i], c.order[i+1:]...), seq)
	}
}
