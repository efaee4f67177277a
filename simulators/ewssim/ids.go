package ewssim

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// EWS ItemIds are opaque base64 blobs that carry the mailbox they belong to (so an id read as
// a delegate works on its own). Ours: 0x00 0x00, the mailbox (u16 length + bytes), then
// graphsim's id of the item, occurrence or exception; stable for the item's life. ChangeKeys are
// graphsim's changeKeys (for masters, one covering their exceptions).

var errMalformedID = errors.New("malformed id")

func encodeItemID(mailbox, gid string) string {
	b := make([]byte, 0, 4+len(mailbox)+len(gid))
	b = append(b, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(mailbox)))
	b = append(b, strings.ToLower(mailbox)...)
	b = append(b, 1)
	b = append(b, gid...)
	return base64.StdEncoding.EncodeToString(b)
}

func decodeItemID(id string) (mailbox, gid string, err error) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) < 5 || b[0] != 0 || b[1] != 0 {
		return "", "", errMalformedID
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	if 4+n+1 > len(b) || b[4+n] != 1 {
		return "", "", errMalformedID
	}
	return string(b[4 : 4+n]), string(b[5+n:]), nil
}

// folderID is the calendar folder's id of a mailbox (ParentFolderId in notifications).
func folderID(mailbox string) string {
	b := []byte{0, 1}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(mailbox)))
	b = append(b, strings.ToLower(mailbox)...)
	b = append(b, "calendar"...)
	return base64.StdEncoding.EncodeToString(b)
}

const folderChangeKey = "AgAAABYAAAA"
