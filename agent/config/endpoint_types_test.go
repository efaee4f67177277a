package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// registerForTest registers an endpoint type for one test (the registry is global: the golden
// files list the registered types).
func registerForTest(t *testing.T, name string, typ EndpointType) {
	RegisterEndpointType(name, typ)
	t.Cleanup(func() {
		endpointTypes.Lock()
		delete(endpointTypes.m, name)
		endpointTypes.Unlock()
	})
}

const typesBase = `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: long-enough-secret, token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
endpoints:
`

// TestRegisteredEndpointType: a type registered from its own file is accepted by the loader,
// its check runs with the endpoint's lines, the keys of other types are refused naming their
// owners, and unknown types list every registered one.
func TestRegisteredEndpointType(t *testing.T) {
	registerForTest(t, "lab", EndpointType{Label: "Lab", Check: func(c *EndpointCheck, e *Endpoint) {
		if e.Room == "room-2@example.com" {
			c.Errorf("room", "the lab has no room 2")
		}
	}})

	cfg, err := Parse("c.yaml", []byte(typesBase+"  - {name: bench, type: lab, room: room-1@example.com, fingerprint: \"AB:\"}\n"), env(nil))
	require.Error(t, err, "the common keys are still checked")
	assert.Contains(t, err.Error(), "c.yaml:5: endpoint \"bench\": fingerprint must be a SHA-256")

	cfg, err = Parse("c.yaml", []byte(typesBase+"  - {name: bench, type: lab, room: room-1@example.com}\n"), env(nil))
	require.NoError(t, err)
	assert.Equal(t, "lab", cfg.Endpoint("bench").Type)

	_, err = Parse("c.yaml", []byte(typesBase+`  - name: bench
    type: lab
    room: room-2@example.com
    address: 10.0.0.9
    calendar_username: bench
  - {name: other, type: labb, room: room-3@example.com}
  - {name: untyped, room: room-4@example.com}
`), env(nil))
	require.Error(t, err)
	assert.Equal(t, `c.yaml:7: endpoint "bench": the lab has no room 2
c.yaml:8: endpoint "bench": address only applies to Cisco and Poly endpoints
c.yaml:9: endpoint "bench": calendar_username only applies to Poly endpoints
c.yaml:10: endpoint "other": type "labb" is not one of cisco, lab, poly, webex
c.yaml:11: endpoint "untyped": type is required (cisco, lab, poly or webex)`, err.Error())

	assert.Panics(t, func() { RegisterEndpointType("lab", EndpointType{}) }, "a type is registered once")
}
