package cisco

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

// A codec whose TLS predates the post-quantum hybrid (real codecs' firmware, as far as we
// know) answers with X25519: after the first connection, the liveness checks offer X25519
// only, and no dial pays for an ML-KEM key share the codec never uses.
func TestOnDemandChecksOfferOnlyTheKeyExchangeTheCodecChose(t *testing.T) {
	start := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	h := newHarness(t, true, start)
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{UpFor: time.Hour, KeyExchanges: []tls.CurveID{tls.X25519, tls.CurveP256}})
	h.meetings(room, providerMeetings(room, start.Add(3*time.Hour))[:2]...)
	rel := make(chan string, 8)
	h.start([]Endpoint{ep}, onDemand(rel, 2*time.Minute))
	h.waitPuts(c, 1)
	assert.Contains(t, c.OfferedKeyExchanges(), tls.X25519MLKEM768, "the first connection offers Go's defaults")
	h.waitIdle("codec-1", 1)
	h.fake.Advance(time.Minute)
	h.waitReleased(rel)

	hs := c.HandshakeSignal()
	h.fake.Advance(time.Minute) // the check at 08:02
	<-hs
	h.waitReleased(rel)
	assert.Equal(t, []tls.CurveID{tls.X25519}, c.OfferedKeyExchanges(), "the check offers what the codec chose")
	assert.Len(t, c.Puts(), 1, "the check found the codec up, as before")
	assert.Empty(t, h.events("codec-1", KindDown))
}

// A codec that no longer takes the remembered key exchange ends the TLS handshake with an
// alert, before any credential is sent: Dial tries once more with the defaults, so the codec
// sees one login, not a failed one.
func TestDialFallsBackToTheDefaultKeyExchangesWhenTheCodecRefusesTheRememberedOne(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	c, ep := h.codec("codec-1", "room-01@contoso.example", ciscosim.CodecConfig{KeyExchanges: []tls.CurveID{tls.X25519}})
	url, err := WebSocketURL(ep.Address)
	require.NoError(t, err)
	conn, err := Dial(t.Context(), DialOptions{URL: url, Username: ep.Username, Password: ep.Password, KeyExchange: tls.CurveP384})
	require.NoError(t, err)
	defer func() { conn.Close(); conn.Wait() }()
	assert.Equal(t, tls.X25519, conn.KeyExchange())
	assert.Contains(t, c.OfferedKeyExchanges(), tls.X25519MLKEM768, "the second attempt offers the defaults")
	st := c.Stats().Handshakes
	assert.Equal(t, 1, st.Attempts, "one upgrade (one login): the refused handshake sent no credentials")
	assert.Equal(t, 1, st.ByStatus[101])
}
