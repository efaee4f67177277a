package poll

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// A source's cursor in a room is its sync token (EWS's SyncState, Google's nextSyncToken)
// and the window its last full read covered; the store keeps it as JSON text. The sources
// differ only in the token's key, and their stored texts must stay readable as they are, so
// the codec builds the one struct shape they share with the key as its tag (reflect.StructOf):
// encoding/json then reads and writes exactly what a hand-written struct per source did.

// CursorCodec writes and reads a source's cursor text.
type CursorCodec struct {
	typ    reflect.Type
	source string
}

// NewCursorCodec is the codec of a source whose token is stored under key ("sync_state");
// source names it in errors ("the EWS source").
func NewCursorCodec(key, source string) CursorCodec {
	t := reflect.StructOf([]reflect.StructField{
		{Name: "Token", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(`json:"` + key + `,omitempty"`)},
		{Name: "WindowStart", Type: reflect.TypeFor[int64](), Tag: `json:"window_start,omitempty"`}, // Unix ms
		{Name: "WindowEnd", Type: reflect.TypeFor[int64](), Tag: `json:"window_end,omitempty"`},
	})
	return CursorCodec{typ: t, source: source}
}

// Encode is the store's text of a cursor; "" (start over) without a token.
func (c CursorCodec) Encode(token string, ws, we time.Time) string {
	if token == "" {
		return ""
	}
	v := reflect.New(c.typ).Elem()
	v.Field(0).SetString(token)
	v.Field(1).SetInt(ws.UnixMilli())
	v.Field(2).SetInt(we.UnixMilli())
	b, _ := json.Marshal(v.Interface())
	return string(b)
}

// Decode reads a cursor's text: "" is no cursor (start over); a window is in UTC, zero when
// the text has none.
func (c CursorCodec) Decode(s string) (token string, ws, we time.Time, err error) {
	if s == "" {
		return "", time.Time{}, time.Time{}, nil
	}
	p := reflect.New(c.typ)
	if err := json.Unmarshal([]byte(s), p.Interface()); err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("stored sync cursor is not %s's: %w", c.source, err)
	}
	v := p.Elem()
	token = v.Field(0).String()
	if start := v.Field(1).Int(); start != 0 {
		ws, we = time.UnixMilli(start).UTC(), time.UnixMilli(v.Field(2).Int()).UTC()
	}
	return token, ws, we, nil
}
