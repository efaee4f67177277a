package ewssim

import (
	"encoding/binary"
	"strings"

	"golang.org/x/crypto/md4"
)

// ntlmv2Response builds an NTLMv2 response with a channel binding AV pair, as a client with
// Extended Protection support sends it.
func ntlmv2Response(password, user, domain string, chal [8]byte, cbt []byte) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	key := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(user)+domain))
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = append(blob, make([]byte, 8)...)
	blob = append(blob, []byte("clientch")...)
	blob = append(blob, 0, 0, 0, 0)
	blob = binary.LittleEndian.AppendUint16(blob, avChannelBindings)
	blob = binary.LittleEndian.AppendUint16(blob, uint16(len(cbt)))
	blob = append(blob, cbt...)
	blob = append(blob, 0, 0, 0, 0, 0, 0, 0, 0)
	return append(hmacMD5(key, chal[:], blob), blob...)
}
