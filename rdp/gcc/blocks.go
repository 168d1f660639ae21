package gcc

import (
	"encoding/binary"
	"fmt"
)

// User data block types (MS-RDPBCGR 2.2.1.3.1 and 2.2.1.4.1, TS_UD_HEADER type).
const (
	CSCore           uint16 = 0xC001 // CS_CORE: TS_UD_CS_CORE
	CSSecurity       uint16 = 0xC002 // CS_SECURITY: TS_UD_CS_SEC
	CSNet            uint16 = 0xC003 // CS_NET: TS_UD_CS_NET
	CSCluster        uint16 = 0xC004 // CS_CLUSTER: TS_UD_CS_CLUSTER
	CSMonitor        uint16 = 0xC005 // CS_MONITOR: TS_UD_CS_MONITOR
	CSMCSMsgChannel  uint16 = 0xC006 // CS_MCS_MSGCHANNEL: TS_UD_CS_MCS_MSGCHANNEL
	CSMonitorEx      uint16 = 0xC008 // CS_MONITOR_EX: TS_UD_CS_MONITOR_EX
	CSMultitransport uint16 = 0xC00A // CS_MULTITRANSPORT: TS_UD_CS_MULTITRANSPORT
	CSUnused1        uint16 = 0xC00C // CS_UNUSED1

	SCCore           uint16 = 0x0C01 // SC_CORE: TS_UD_SC_CORE
	SCSecurity       uint16 = 0x0C02 // SC_SECURITY: TS_UD_SC_SEC1
	SCNet            uint16 = 0x0C03 // SC_NET: TS_UD_SC_NET
	SCMCSMsgChannel  uint16 = 0x0C04 // SC_MCS_MSGCHANNEL: TS_UD_SC_MCS_MSGCHANNEL
	SCMultitransport uint16 = 0x0C08 // SC_MULTITRANSPORT: TS_UD_SC_MULTITRANSPORT
)

const (
	// BlockHeaderLen is the length of TS_UD_HEADER (type and length, 16 bits each).
	BlockHeaderLen = 4
	// MaxBlocks bounds the number of blocks in a user data area (clients send about 8).
	MaxBlocks = 64
)

// Block is one user data block: its TS_UD_HEADER type and its body (the bytes after the
// 4-byte header; the header's length is len(Data)+4).
type Block struct {
	Type uint16
	Data []byte
}

// ClientData is the client user data area of a Conference Create Request: its blocks in wire
// order.
type ClientData struct {
	Blocks []Block
}

// ServerData is the server user data area of a Conference Create Response: its blocks in wire
// order.
type ServerData struct {
	Blocks []Block
}

// BlockName returns the specification's name of a block type, or its hex value.
func BlockName(t uint16) string {
	switch t {
	case CSCore:
		return "CS_CORE"
	case CSSecurity:
		return "CS_SECURITY"
	case CSNet:
		return "CS_NET"
	case CSCluster:
		return "CS_CLUSTER"
	case CSMonitor:
		return "CS_MONITOR"
	case CSMCSMsgChannel:
		return "CS_MCS_MSGCHANNEL"
	case CSMonitorEx:
		return "CS_MONITOR_EX"
	case CSMultitransport:
		return "CS_MULTITRANSPORT"
	case CSUnused1:
		return "CS_UNUSED1"
	case SCCore:
		return "SC_CORE"
	case SCSecurity:
		return "SC_SECURITY"
	case SCNet:
		return "SC_NET"
	case SCMCSMsgChannel:
		return "SC_MCS_MSGCHANNEL"
	case SCMultitransport:
		return "SC_MULTITRANSPORT"
	}
	return fmt.Sprintf("0x%04X", t)
}

// parseBlocks splits a user data area into blocks. A type may appear only once: a proxy that
// rewrote the first of two CS_NET blocks while the server read the second would enforce
// nothing.
func parseBlocks(b []byte) ([]Block, error) {
	var blocks []Block
	for off := 0; off < len(b); {
		if len(blocks) == MaxBlocks {
			return nil, malformed("more than %d user data blocks", MaxBlocks)
		}
		if len(b)-off < BlockHeaderLen {
			return nil, malformed("offset %d: %d bytes left, a block header needs %d", off, len(b)-off, BlockHeaderLen)
		}
		t := binary.LittleEndian.Uint16(b[off:])
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		if n < BlockHeaderLen || n > len(b)-off {
			return nil, malformed("offset %d: %s block length %d, %d bytes left", off, BlockName(t), n, len(b)-off)
		}
		for _, prev := range blocks {
			if prev.Type == t {
				return nil, malformed("offset %d: second %s block", off, BlockName(t))
			}
		}
		blocks = append(blocks, Block{Type: t, Data: b[off+BlockHeaderLen : off+n : off+n]})
		off += n
	}
	return blocks, nil
}

func appendBlocks(dst []byte, blocks []Block) ([]byte, error) {
	if len(blocks) > MaxBlocks {
		return dst, invalid("%d user data blocks, at most %d", len(blocks), MaxBlocks)
	}
	for i, blk := range blocks {
		for _, prev := range blocks[:i] {
			if prev.Type == blk.Type {
				return dst, invalid("second %s block", BlockName(blk.Type))
			}
		}
		n := BlockHeaderLen + len(blk.Data)
		if n > 0xFFFF {
			return dst, invalid("%s block of %d bytes, at most %d", BlockName(blk.Type), n, 0xFFFF)
		}
		dst = binary.LittleEndian.AppendUint16(dst, blk.Type)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
		dst = append(dst, blk.Data...)
	}
	if len(dst) > MaxUserDataLen {
		return dst, invalid("user data of %d bytes, at most %d", len(dst), MaxUserDataLen)
	}
	return dst, nil
}

func find(blocks []Block, t uint16) *Block {
	for i := range blocks {
		if blocks[i].Type == t {
			return &blocks[i]
		}
	}
	return nil
}

func set(blocks *[]Block, t uint16, data []byte) {
	if b := find(*blocks, t); b != nil {
		b.Data = data
		return
	}
	*blocks = append(*blocks, Block{Type: t, Data: data})
}

// parseUserData splits a user data area into blocks and checks each with check.
func parseUserData(b []byte, side string, check func(Block) error) ([]Block, error) {
	if len(b) > MaxUserDataLen {
		return nil, malformed("%s data of %d bytes, at most %d", side, len(b), MaxUserDataLen)
	}
	blocks, err := parseBlocks(b)
	if err != nil {
		return nil, err
	}
	for _, blk := range blocks {
		if err := check(blk); err != nil {
			return nil, err
		}
	}
	return blocks, nil
}

// view decodes block b of type t with parse, or says that there is none.
func view[T any](b *Block, t uint16, parse func([]byte) (T, error)) (T, error) {
	if b == nil {
		var none T
		return none, noBlock(t)
	}
	return parse(b.Data)
}

// put encodes v into the block of type t, appending one when absent.
func put(blocks *[]Block, t uint16, v interface{ Marshal() ([]byte, error) }) error {
	data, err := v.Marshal()
	if err != nil {
		return err
	}
	set(blocks, t, data)
	return nil
}

func noBlock(t uint16) error {
	return fmt.Errorf("%w: %s", ErrNoBlock, BlockName(t))
}

// ParseClientData parses a client user data area (ConferenceCreateRequest.UserData). Block
// data aliases b. The typed blocks (CS_CORE, CS_SECURITY, CS_NET, CS_CLUSTER) are checked as
// their views would decode them; every other block is kept as it is.
func ParseClientData(b []byte) (*ClientData, error) {
	blocks, err := parseUserData(b, "client", func(blk Block) (err error) {
		switch blk.Type {
		case CSCore:
			_, err = ParseClientCore(blk.Data)
		case CSSecurity:
			_, err = ParseClientSecurity(blk.Data)
		case CSNet:
			_, err = ParseClientNetwork(blk.Data)
		case CSCluster:
			_, err = ParseClientCluster(blk.Data)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ClientData{Blocks: blocks}, nil
}

// Marshal encodes the blocks in order.
func (d *ClientData) Marshal() ([]byte, error) {
	if d == nil {
		return nil, invalid("nil ClientData")
	}
	return appendBlocks(nil, d.Blocks)
}

// Find returns the block of type t, or nil.
func (d *ClientData) Find(t uint16) *Block {
	if d == nil {
		return nil
	}
	return find(d.Blocks, t)
}

// Remove deletes the block of type t and reports whether there was one.
func (d *ClientData) Remove(t uint16) bool {
	if d == nil {
		return false
	}
	for i := range d.Blocks {
		if d.Blocks[i].Type == t {
			d.Blocks = append(d.Blocks[:i], d.Blocks[i+1:]...)
			return true
		}
	}
	return false
}

// Core decodes the CS_CORE block; the result is a copy, stored back by SetCore.
func (d *ClientData) Core() (*ClientCore, error) {
	return view(d.Find(CSCore), CSCore, ParseClientCore)
}

// SetCore encodes c into the CS_CORE block, appending one when absent.
func (d *ClientData) SetCore(c *ClientCore) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, CSCore, c)
}

// Security decodes the CS_SECURITY block.
func (d *ClientData) Security() (*ClientSecurity, error) {
	return view(d.Find(CSSecurity), CSSecurity, ParseClientSecurity)
}

// SetSecurity encodes s into the CS_SECURITY block, appending one when absent.
func (d *ClientData) SetSecurity(s *ClientSecurity) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, CSSecurity, s)
}

// Network decodes the CS_NET block.
func (d *ClientData) Network() (*ClientNetwork, error) {
	return view(d.Find(CSNet), CSNet, ParseClientNetwork)
}

// SetNetwork encodes n into the CS_NET block, appending one when absent.
func (d *ClientData) SetNetwork(n *ClientNetwork) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, CSNet, n)
}

// Cluster decodes the CS_CLUSTER block.
func (d *ClientData) Cluster() (*ClientCluster, error) {
	return view(d.Find(CSCluster), CSCluster, ParseClientCluster)
}

// SetCluster encodes c into the CS_CLUSTER block, appending one when absent.
func (d *ClientData) SetCluster(c *ClientCluster) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, CSCluster, c)
}

// ParseServerData parses a server user data area (ConferenceCreateResponse.UserData). Block
// data aliases b. The typed blocks (SC_CORE, SC_SECURITY, SC_NET) are checked as their views
// would decode them; every other block is kept as it is.
func ParseServerData(b []byte) (*ServerData, error) {
	blocks, err := parseUserData(b, "server", func(blk Block) (err error) {
		switch blk.Type {
		case SCCore:
			_, err = ParseServerCore(blk.Data)
		case SCSecurity:
			_, err = ParseServerSecurity(blk.Data)
		case SCNet:
			_, err = ParseServerNetwork(blk.Data)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ServerData{Blocks: blocks}, nil
}

// Marshal encodes the blocks in order.
func (d *ServerData) Marshal() ([]byte, error) {
	if d == nil {
		return nil, invalid("nil ServerData")
	}
	return appendBlocks(nil, d.Blocks)
}

// Find returns the block of type t, or nil.
func (d *ServerData) Find(t uint16) *Block {
	if d == nil {
		return nil
	}
	return find(d.Blocks, t)
}

// Core decodes the SC_CORE block; the result is a copy, stored back by SetCore.
func (d *ServerData) Core() (*ServerCore, error) {
	return view(d.Find(SCCore), SCCore, ParseServerCore)
}

// SetCore encodes c into the SC_CORE block, appending one when absent.
func (d *ServerData) SetCore(c *ServerCore) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, SCCore, c)
}

// Security decodes the SC_SECURITY block.
func (d *ServerData) Security() (*ServerSecurity, error) {
	return view(d.Find(SCSecurity), SCSecurity, ParseServerSecurity)
}

// SetSecurity encodes s into the SC_SECURITY block, appending one when absent.
func (d *ServerData) SetSecurity(s *ServerSecurity) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, SCSecurity, s)
}

// Network decodes the SC_NET block.
func (d *ServerData) Network() (*ServerNetwork, error) {
	return view(d.Find(SCNet), SCNet, ParseServerNetwork)
}

// SetNetwork encodes n into the SC_NET block, appending one when absent.
func (d *ServerData) SetNetwork(n *ServerNetwork) error {
	if d == nil {
		return invalid("nil user data")
	}
	return put(&d.Blocks, SCNet, n)
}
