package agent

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/polysim"
)

// TestCheckPoly: `otj-edge check` reports the calendar service's certificate and each Poly
// endpoint's REST health, failing on a refused login or calendaring that is not online, and
// never prints a password.
func TestCheckPoly(t *testing.T) {
	fl, err := polysim.Start(t.Context(), polysim.Options{Endpoints: []polysim.EndpointOptions{
		{Name: "poly-1", Room: "room-2@example.com", RESTPassword: "rest-secret-value-1"},
		{Name: "poly-2", Room: "room-3@example.com", RESTPassword: "rest-secret-value-2"},
	}})
	require.NoError(t, err)
	defer fl.Close()
	path := minimalConfig(t, `  - name: poly-1
    type: poly
    room: room-2@example.com
    calendar_username: poly-1
    calendar_password: calendar-secret-value-1
    address: `+fl.Endpoint("poly-1").RESTURL()+`
    username: admin
    password: rest-secret-value-1
  - name: poly-2
    type: poly
    room: room-3@example.com
    calendar_username: poly-2
    calendar_password: calendar-secret-value-2
    address: `+fl.Endpoint("poly-2").RESTURL()+`
    username: admin
    password: wrong-secret-value
`)
	cfg, err := loadConfig(path, IO{Stdout: io.Discard, Stderr: io.Discard, Env: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	var out bytes.Buffer
	failed := checkPoly(t.Context(), cfg, &out)
	s := out.String()
	assert.Equal(t, 2, failed, s)
	assert.Contains(t, s, "ok    ews: no certificate yet")
	// poly-1 has no calendar server configured on the device, so it says DISABLED.
	assert.Contains(t, s, "FAIL  poly poly-1: StudioX50 4.1.0-340031 reports its calendaring as DISABLED")
	assert.Contains(t, s, "FAIL  poly poly-2: REST "+fl.Endpoint("poly-2").RESTURL()+": REST login refused")
	for _, secret := range []string{"rest-secret-value-1", "wrong-secret-value", "calendar-secret-value"} {
		assert.NotContains(t, s, secret)
	}
}
