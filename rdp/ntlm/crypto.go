package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"fmt"
	"strings"
	"unicode"
)

// ntowfv2 is NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(MD4(UNICODE(Passwd)),
// UNICODE(Uppercase(User) + UserDom)). password and domain are UTF-16LE.
func ntowfv2(password []byte, user string, domain []byte) [16]byte {
	ntHash := md4Sum(password)
	defer clear(ntHash[:])
	h := hmac.New(md5.New, ntHash[:])
	h.Write(utf16LE(strings.Map(unicode.ToUpper, user)))
	h.Write(domain)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

func hmacMD5(key []byte, parts ...[]byte) [16]byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// ntlmv2Temp builds the NTLMv2_CLIENT_CHALLENGE ("temp", MS-NLMP 2.2.2.7 and 3.3.2):
// Responserversion, HiResponserversion, Z(6), Time, ClientChallenge, Z(4), ServerName, Z(4).
func ntlmv2Temp(clientChallenge, timestamp [8]byte, targetInfo []byte) []byte {
	temp := make([]byte, 0, 28+len(targetInfo)+4)
	temp = append(temp, 1, 1, 0, 0, 0, 0, 0, 0)
	temp = append(temp, timestamp[:]...)
	temp = append(temp, clientChallenge[:]...)
	temp = append(temp, 0, 0, 0, 0)
	temp = append(temp, targetInfo...)
	return append(temp, 0, 0, 0, 0)
}

// ntProofStr is HMAC_MD5(ResponseKeyNT, ServerChallenge + temp).
func ntProofStr(responseKeyNT *[16]byte, serverChallenge [8]byte, temp []byte) [16]byte {
	return hmacMD5(responseKeyNT[:], serverChallenge[:], temp)
}

// ntlmv2Response returns the NtChallengeResponse (NTProofStr + temp) and the SessionBaseKey
// (HMAC_MD5(ResponseKeyNT, NTProofStr)).
func ntlmv2Response(responseKeyNT *[16]byte, serverChallenge, clientChallenge, timestamp [8]byte, targetInfo []byte) (resp []byte, sessionBaseKey [16]byte) {
	temp := ntlmv2Temp(clientChallenge, timestamp, targetInfo)
	proof := ntProofStr(responseKeyNT, serverChallenge, temp)
	resp = make([]byte, 0, 16+len(temp))
	resp = append(resp, proof[:]...)
	resp = append(resp, temp...)
	return resp, hmacMD5(responseKeyNT[:], proof[:])
}

// lmv2Response is HMAC_MD5(ResponseKeyLM, ServerChallenge + ClientChallenge) + ClientChallenge;
// for NTLMv2, ResponseKeyLM equals ResponseKeyNT.
func lmv2Response(responseKeyNT *[16]byte, serverChallenge, clientChallenge [8]byte) []byte {
	mac := hmacMD5(responseKeyNT[:], serverChallenge[:], clientChallenge[:])
	return append(mac[:], clientChallenge[:]...)
}

// computeMIC is HMAC_MD5(ExportedSessionKey, NEGOTIATE + CHALLENGE + AUTHENTICATE), the
// AUTHENTICATE_MESSAGE's MIC field being zero.
func computeMIC(exportedSessionKey, negotiate, challenge, authenticate []byte) [16]byte {
	return hmacMD5(exportedSessionKey, negotiate, challenge, authenticate)
}

// rc4Once encrypts data with a fresh RC4 key stream (used for the session key exchange).
func rc4Once(key, data []byte) ([]byte, error) {
	c, err := rc4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ntlm: rc4: %w", err)
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	*c = rc4.Cipher{}
	return out, nil
}
