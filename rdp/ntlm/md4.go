package ntlm

import "golang.org/x/crypto/md4"

// md4Sum is MD4 (RFC 1320), which NTLM's NT hash is built on.
func md4Sum(b []byte) [16]byte {
	h := md4.New()
	_, _ = h.Write(b)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}
