package poll

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The texts the EWS and Google sources stored before the codec was shared: a restart after
// the upgrade must go on from them, and write the same.
func TestCursorCodecReadsAndWritesTheStoredTextsAsBefore(t *testing.T) {
	ws, we := time.UnixMilli(1700000000000).UTC(), time.UnixMilli(1700600000000).UTC()
	for key, text := range map[string]string{
		"sync_state": `{"sync_state":"H4sI\u003c\u0026","window_start":1700000000000,"window_end":1700600000000}`,
		"sync_token": `{"sync_token":"CPjQ","window_start":1700000000000,"window_end":1700600000000}`,
	} {
		c := NewCursorCodec(key, "the X source")
		tok, gws, gwe, err := c.Decode(text)
		require.NoError(t, err)
		assert.Equal(t, ws, gws)
		assert.Equal(t, we, gwe)
		assert.Equal(t, text, c.Encode(tok, ws.In(time.FixedZone("CET", 3600)), we), "the same text back")
	}
}

func TestCursorCodecStartsOverWithoutAToken(t *testing.T) {
	c := NewCursorCodec("sync_state", "the EWS source")
	assert.Equal(t, "", c.Encode("", time.Now(), time.Now()))
	tok, ws, _, err := c.Decode("")
	require.NoError(t, err)
	assert.Empty(t, tok)
	assert.True(t, ws.IsZero())
	tok, ws, _, err = c.Decode(`{"sync_state":"abc"}`)
	require.NoError(t, err)
	assert.Equal(t, "abc", tok)
	assert.True(t, ws.IsZero(), "no window: a full read first")
	// Another source's cursor carries no token of ours: start over.
	tok, _, _, err = c.Decode(`{"sync_token":"CPjQ","window_start":1700000000000}`)
	require.NoError(t, err)
	assert.Empty(t, tok)
	_, _, _, err = c.Decode(`not json`)
	require.ErrorContains(t, err, "stored sync cursor is not the EWS source's")
}
