package ntlm

import (
	"encoding/binary"
	"math/bits"
)

// md4Sum returns the MD4 digest (RFC 1320) of msg. MD4 is broken as a hash function; NTLM uses
// it only to turn a password into the NT hash (MS-NLMP 3.3.1, NTOWFv1).
//
// It is written here rather than imported because golang.org/x/crypto is not a requirement of
// the module. Every block it copies is zeroed before it returns, since msg is a password.
func md4Sum(msg []byte) [16]byte {
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	var block [64]byte
	var x [16]uint32

	process := func(p []byte) {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(p[4*i:])
		}
		aa, bb, cc, dd := a, b, c, d
		// Round 1: F(x,y,z) = xy | ~x z.
		for _, i := range [4]int{0, 4, 8, 12} {
			a = bits.RotateLeft32(a+(b&c|^b&d)+x[i], 3)
			d = bits.RotateLeft32(d+(a&b|^a&c)+x[i+1], 7)
			c = bits.RotateLeft32(c+(d&a|^d&b)+x[i+2], 11)
			b = bits.RotateLeft32(b+(c&d|^c&a)+x[i+3], 19)
		}
		// Round 2: G(x,y,z) = xy | xz | yz, constant 0x5A827999.
		for _, i := range [4]int{0, 1, 2, 3} {
			a = bits.RotateLeft32(a+(b&c|b&d|c&d)+x[i]+0x5a827999, 3)
			d = bits.RotateLeft32(d+(a&b|a&c|b&c)+x[i+4]+0x5a827999, 5)
			c = bits.RotateLeft32(c+(d&a|d&b|a&b)+x[i+8]+0x5a827999, 9)
			b = bits.RotateLeft32(b+(c&d|c&a|d&a)+x[i+12]+0x5a827999, 13)
		}
		// Round 3: H(x,y,z) = x ^ y ^ z, constant 0x6ED9EBA1.
		for _, i := range [4]int{0, 2, 1, 3} {
			a = bits.RotateLeft32(a+(b^c^d)+x[i]+0x6ed9eba1, 3)
			d = bits.RotateLeft32(d+(a^b^c)+x[i+8]+0x6ed9eba1, 9)
			c = bits.RotateLeft32(c+(d^a^b)+x[i+4]+0x6ed9eba1, 11)
			b = bits.RotateLeft32(b+(c^d^a)+x[i+12]+0x6ed9eba1, 15)
		}
		a += aa
		b += bb
		c += cc
		d += dd
	}

	n := len(msg)
	p := msg
	for len(p) >= 64 {
		process(p[:64])
		p = p[64:]
	}
	// Padding: 0x80, zeros up to 56 mod 64, then the bit length, little-endian.
	k := copy(block[:], p)
	block[k] = 0x80
	if k >= 56 {
		process(block[:])
		clear(block[:])
	}
	binary.LittleEndian.PutUint64(block[56:], uint64(n)<<3)
	process(block[:])

	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a)
	binary.LittleEndian.PutUint32(out[4:], b)
	binary.LittleEndian.PutUint32(out[8:], c)
	binary.LittleEndian.PutUint32(out[12:], d)
	clear(block[:])
	clear(x[:])
	return out
}
