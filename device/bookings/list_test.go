package bookings

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The codec's List answer names each item's list index "id" and its booking id "Id": only the
// exact "Id" is a booking id, whichever way the other keys are spelled, one item or many.
func TestListIDsReadOnlyTheExactId(t *testing.T) {
	cases := []struct {
		name, booking string
		want          []string
	}{
		{"array", `[{"id":1,"Id":"teams-cvi","Title":"a"},{"Id":"4711","id":"2"}]`, []string{"teams-cvi", "4711"}},
		{"one object", `{"id":"1","Id":"zoom","Time":{"Duration":30}}`, []string{"zoom"}},
		{"a number as id", `[{"id":"1","Id":42}]`, []string{"42"}},
		{"other spellings are not the id", `[{"ID":"x","iD":"y","id":"1"},{"Id":"teams-webrtc"}]`, []string{"teams-webrtc"}},
		{"null id, as before: an empty id", `[{"id":"1","Id":null}]`, []string{""}},
		{"absent", ``, []string{}},
		{"null", `null`, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ListIDs(json.RawMessage(c.booking))
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	_, err := ListIDs(json.RawMessage(`[{"Id":"a"},`))
	assert.ErrorContains(t, err, "read the booking ids")
}
