package cisco

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

func TestCapTextCutsAtACharacter(t *testing.T) {
	assert.Equal(t, "short", capText("short", 10))
	assert.Equal(t, strings.Repeat("a", 10), capText(strings.Repeat("a", 10), 10))
	assert.Equal(t, strings.Repeat("a", 9)+"…", capText(strings.Repeat("a", 11), 10))
	cut := capText(strings.Repeat("ø€😀", 100), 10)
	assert.True(t, utf8.ValidString(cut))
	assert.Equal(t, 10, utf8.RuneCountInString(cut))
	assert.Equal(t, "ø€😀ø€😀ø€😀…", cut)
	assert.Equal(t, "ab…", capText("ab    cdef", 4), "no blanks before the mark")
}

// TestLongSubjectsArePushedCut: a 10,000-character subject and organizer are pushed cut to
// 255 characters, and the codec takes the booking.
func TestLongSubjectsArePushedCut(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	room := "room-01@contoso.example"
	c, ep := h.codec("codec-1", room, ciscosim.CodecConfig{})
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Hour)
	ms := providerMeetings(room, base)[:2]
	ms[0].Subject = strings.Repeat("Quarterly review ", 600)[:10000]
	ms[1].Subject = strings.Repeat("ø", 10000) // two bytes each
	ms[1].Organizer = strings.Repeat("Name ", 2000)
	ms[1].OrganizerEmail = strings.Repeat("a", 300) + "@contoso.example"
	h.meetings(room, ms...)
	h.start([]Endpoint{ep}, nil)
	puts := h.waitPuts(c, 1)
	require.True(t, puts[0].Accepted, puts[0].Error)
	got := byID(c.Bookings())
	first, second := got["teams-cvi"], got["teams-webrtc"]
	assert.Equal(t, MaxTitle, utf8.RuneCountInString(first.Title))
	assert.True(t, strings.HasPrefix(first.Title, "Quarterly review Quarterly review"))
	assert.True(t, strings.HasSuffix(first.Title, "…"))
	assert.Equal(t, strings.Repeat("ø", MaxTitle-1)+"…", second.Title)
	assert.Equal(t, MaxName, utf8.RuneCountInString(second.Organizer.Name))
	assert.Empty(t, second.Organizer.Email, "an address longer than any can be is left out")
	assert.Equal(t, "ada@contoso.example", first.Organizer.Email)
	assert.Less(t, len(puts[0].Body), 4096, "the Put stays small")
}
