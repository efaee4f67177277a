package ewssim

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// The server side of NTLMv2 (MS-NLMP) as IIS runs it for Exchange: NEGOTIATE → CHALLENGE →
// AUTHENTICATE on one TCP connection, verified against the account's password. Only what a
// client can observe is modelled: no signing, sealing or session keys.

const ntlmSignature = "NTLMSSP\x00"

// Negotiate flags the challenge sets (MS-NLMP 2.2.2.5).
const (
	flagUnicode         = 1 << 0
	flagRequestTarget   = 1 << 2
	flagNTLM            = 1 << 9
	flagAlwaysSign      = 1 << 15
	flagTargetTypeDom   = 1 << 16
	flagExtendedSession = 1 << 19
	flagTargetInfo      = 1 << 23
	flagVersion         = 1 << 25
	flag128             = 1 << 29
	flag56              = 1 << 31
)

// AV_PAIR ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
	avChannelBindings = 10
)

// ntlmChallenge builds a CHALLENGE message for the domain and returns it with its server
// challenge.
func ntlmChallenge(netbiosDomain, dnsDomain, computer string, now time.Time) (msg []byte, challenge [8]byte) {
	_, _ = rand.Read(challenge[:])
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(avNbDomainName, utf16le(netbiosDomain))
	av(avNbComputerName, utf16le(computer))
	av(avDNSDomainName, utf16le(dnsDomain))
	av(avDNSComputerName, utf16le(strings.ToLower(computer)+"."+dnsDomain))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, uint64(now.UnixNano()/100)+116444736000000000)
	av(avTimestamp, ts)
	av(avEOL, nil)

	target := utf16le(netbiosDomain)
	const head = 56 // fixed part including the version
	flags := uint32(flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetTypeDom |
		flagExtendedSession | flagTargetInfo | flagVersion | flag128 | flag56)
	var b bytes.Buffer
	b.WriteString(ntlmSignature)
	_ = binary.Write(&b, binary.LittleEndian, uint32(2))
	writeVarField(&b, len(target), head)
	_ = binary.Write(&b, binary.LittleEndian, flags)
	b.Write(challenge[:])
	b.Write(make([]byte, 8))
	writeVarField(&b, info.Len(), head+len(target))
	b.Write([]byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) // version 10.0.17763 (Windows Server 2019), NTLM rev 15
	b.Write(target)
	b.Write(info.Bytes())
	return b.Bytes(), challenge
}

func writeVarField(b *bytes.Buffer, n, off int) {
	_ = binary.Write(b, binary.LittleEndian, uint16(n))
	_ = binary.Write(b, binary.LittleEndian, uint16(n))
	_ = binary.Write(b, binary.LittleEndian, uint32(off))
}

// ntlmMessageType is 1, 2 or 3 for a well-formed NTLMSSP message, else 0.
func ntlmMessageType(msg []byte) uint32 {
	if len(msg) < 12 || string(msg[:8]) != ntlmSignature {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[8:12])
}

// ntlmAuth is what an AUTHENTICATE message carries.
type ntlmAuth struct {
	user, domain, workstation string
	ntResponse                []byte
}

var errNTLMMalformed = errors.New("malformed NTLM AUTHENTICATE message")

func parseNTLMAuthenticate(msg []byte) (ntlmAuth, error) {
	if ntlmMessageType(msg) != 3 || len(msg) < 64 {
		return ntlmAuth{}, errNTLMMalformed
	}
	field := func(at int) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(msg[at:]))
		off := int(binary.LittleEndian.Uint32(msg[at+4:]))
		if off < 0 || off+n > len(msg) {
			return nil, errNTLMMalformed
		}
		return msg[off : off+n], nil
	}
	var a ntlmAuth
	nt, err := field(20)
	if err != nil {
		return a, err
	}
	dom, err1 := field(28)
	usr, err2 := field(36)
	ws, err3 := field(44)
	if err := errors.Join(err1, err2, err3); err != nil {
		return a, err
	}
	a.ntResponse, a.domain, a.user, a.workstation = nt, fromUTF16LE(dom), fromUTF16LE(usr), fromUTF16LE(ws)
	return a, nil
}

// verify checks an NTLMv2 response against the password and the server challenge. It returns
// the channel binding hash the client put in its AV pairs (nil when it sent none).
func (a ntlmAuth) verify(password string, challenge [8]byte) (ok bool, cbt []byte) {
	if len(a.ntResponse) < 16+28 { // NTProofStr + the fixed part of NTLMv2_CLIENT_CHALLENGE
		return false, nil // NTLMv1 or garbage: Exchange's IIS refuses v1
	}
	h := md4.New()
	h.Write(utf16le(password))
	key := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(a.user)+a.domain))
	blob := a.ntResponse[16:]
	if !hmac.Equal(hmacMD5(key, challenge[:], blob), a.ntResponse[:16]) {
		return false, nil
	}
	// AV pairs start after RespType, HiRespType, Reserved1(6), TimeStamp(8), ChallengeFromClient(8), Reserved2(4).
	pairs := blob[28:]
	for len(pairs) >= 4 {
		id := binary.LittleEndian.Uint16(pairs)
		n := int(binary.LittleEndian.Uint16(pairs[2:]))
		if id == avEOL || 4+n > len(pairs) {
			break
		}
		if id == avChannelBindings {
			cbt = pairs[4 : 4+n]
		}
		pairs = pairs[4+n:]
	}
	return true, cbt
}

// channelBindingHash is the MD5 of the gss_channel_bindings_struct whose application data is
// "tls-server-end-point:" + the hash of the server certificate (RFC 5929), which a client with
// Extended Protection puts in MsvAvChannelBindings.
func channelBindingHash(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw) // SHA-256 for SHA-256/ECDSA-signed certificates
	app := append([]byte("tls-server-end-point:"), sum[:]...)
	var b bytes.Buffer
	b.Write(make([]byte, 16)) // initiator and acceptor address types and lengths: zero
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(app)))
	b.Write(app)
	h := md5.Sum(b.Bytes())
	return h[:]
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
