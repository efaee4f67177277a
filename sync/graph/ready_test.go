package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A full round's events are made ready before the write exactly as the write would make them
// (Graph's properties without nulls, encoded; their index fields), an event without usable
// times carries why; occurrence stubs and removals, which depend on the store, are left to the
// write, and an incremental round's events all are (they merge with what is stored).
func TestReadyEventsAreWhatTheWriteWouldStore(t *testing.T) {
	body := []byte(`{"value":[` +
		graphEvent("ev1", 1) + `,` +
		`{"@odata.etag":"W/\"s1\"","id":"occ1","type":"occurrence","seriesMasterId":"master1","start":{"dateTime":"2026-12-08T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-08T10:00:00.0000000","timeZone":"UTC"}},` +
		`{"id":"gone1","@removed":{"reason":"deleted"}},` +
		`{"id":"notime","type":"singleInstance","subject":"no start","start":{"dateTime":"tomorrow","timeZone":"UTC"}}` +
		`],"@odata.deltaLink":"https://graph.example/delta"}`)
	pg, err := parsePage(body)
	require.NoError(t, err)
	require.Len(t, pg.items, 4)

	assert.Nil(t, readyEvents(&round{}, pg), "an incremental round's events merge with the stored ones in the write")

	ready := readyEvents(&round{full: true}, pg)
	require.Len(t, ready, len(pg.items))
	want := withoutNulls(pg.items[0].document())
	wantEv, err := want.event()
	require.NoError(t, err)
	assert.Equal(t, string(want.encode()), string(ready[0].data), "the stored JSON the write would make")
	assert.Equal(t, wantEv, ready[0].ev)
	assert.NoError(t, ready[0].evErr)
	assert.NotContains(t, string(ready[0].data), `"seriesMasterId":null`, "nulls are left out, as the write leaves them")

	assert.Nil(t, ready[1].data, "an occurrence stub is filled from its master in the write")
	assert.Nil(t, ready[2].data, "a removal is the write's")

	require.NotNil(t, ready[3].data)
	assert.Error(t, ready[3].evErr, "an event without usable times is skipped by the write, with its reason")
	assert.Equal(t, "notime", ready[3].ev.ID, "and its id for the warning")
}
