package poly

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/goroutines"
	"github.com/otj-edge/otj-edge/simulators/polysim"
)

// driverGoroutines counts the goroutines running this package's code (the tests' own aside).
func driverGoroutines() int { return goroutines.Parked("otj-edge/device/poly.", "poly.Test") }

// Twenty Poly endpoints with REST health checks are checked by one scheduler, not by a
// goroutine each (a stack of 8 KB and more per endpoint for as long as the agent ran), and
// each is still checked at the start and every RESTEvery after.
func TestOneSchedulerChecksEveryPolyEndpoint(t *testing.T) {
	const n = 20
	f := newFixture(t)
	var opts []polysim.EndpointOptions
	for i := range n {
		opts = append(opts, polysim.EndpointOptions{Name: fmt.Sprintf("poly-%02d", i), Room: roomA,
			Username: fmt.Sprintf("poly-%02d", i), Password: "calendar-pass", RESTPassword: fmt.Sprintf("rest-pass-%02d", i)})
	}
	fl, err := polysim.Start(t.Context(), polysim.Options{Now: f.clk.Now, Logger: testLogger(t), Endpoints: opts})
	require.NoError(t, err)
	t.Cleanup(fl.Close)
	f.opts.Endpoints = nil
	for _, o := range opts {
		f.opts.Endpoints = append(f.opts.Endpoints, Account{Name: o.Name, Room: roomA, Username: o.Username,
			Password: secret.New(o.Password), Address: fl.Endpoint(o.Name).RESTURL(), AdminUsername: "admin",
			AdminPassword: secret.New(o.RESTPassword)})
	}
	svc := f.start()

	checkedAt := func(at time.Time) {
		t.Helper()
		waitREST(t, f.clk, svc)
		for _, o := range opts {
			row, _, err := f.st.Endpoint(t.Context(), o.Name)
			require.NoError(t, err)
			r := restOf(t, row)
			assert.Equal(t, at, r.Checked.UTC(), "%s: checked", o.Name)
			assert.Equal(t, "StudioX50", row.Product, "%s: %s", o.Name, r.Error)
		}
	}
	checkedAt(t0)
	g := driverGoroutines()
	t.Logf("%d endpoints: %d goroutines in the service once settled", n, g)
	assert.LessOrEqual(t, g, 4, "Run, its listener, the monitor and the REST scheduler; not a goroutine per endpoint")

	f.clk.Advance(restEvery - time.Second)
	checkedAt(t0)
	f.clk.Advance(time.Second)
	checkedAt(t0.Add(restEvery))
}
