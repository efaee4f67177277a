package poly

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
)

// freeAddr reserves a loopback port for the service, so polysim can be told where to poll
// before the service starts (the service needs polysim's REST address to start).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// waitRow waits until the endpoint's store row satisfies ok.
func waitRow(t *testing.T, st *store.Store, sub *store.Sub, name string, ok func(store.EndpointState) bool) store.EndpointState {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		row, _, err := st.Endpoint(t.Context(), name)
		require.NoError(t, err)
		if ok(row) {
			return row
		}
		select {
		case <-sub.C:
			sub.Take()
		case <-deadline:
			t.Fatalf("endpoint %s never reached the expected state; last: %+v", name, row)
		}
	}
}

func restOf(t *testing.T, row store.EndpointState) restStatus {
	var d polyData
	require.NoError(t, json.Unmarshal(row.Data, &d))
	if d.REST == nil {
		return restStatus{}
	}
	return *d.REST
}

// TestRESTHealth: with an address and admin credentials, the service logs in to the endpoint's
// REST API, records its model and firmware, pins its certificate on first use, reports the
// endpoint's own view of its calendaring in health, notices a changed certificate, and says
// when the REST login is refused.
func TestRESTHealth(t *testing.T) {
	f := newFixture(t)
	addr := freeAddr(t)
	url := "https://" + addr + "/EWS/Exchange.asmx"
	fl, err := polysim.Start(t.Context(), polysim.Options{Now: f.clk.Now, Logger: testLogger(t), Endpoints: []polysim.EndpointOptions{
		{Name: "poly-a", Room: roomA, EWSURL: url, Username: userA, Password: passA, RootCAs: f.ca.Pool(), RESTPassword: "rest-pass-a"},
		{Name: "poly-b", Room: roomB, EWSURL: url, Username: userB, Password: passB, RootCAs: f.ca.Pool(), RESTPassword: "rest-pass-b"},
	}})
	require.NoError(t, err)
	t.Cleanup(fl.Close)
	a, b := fl.Endpoint("poly-a"), fl.Endpoint("poly-b")

	f.opts.Listen = addr
	f.opts.Endpoints[0].Address = a.RESTURL()
	f.opts.Endpoints[0].AdminUsername, f.opts.Endpoints[0].AdminPassword = "admin", secret.New("rest-pass-a")
	f.opts.Endpoints[1].Address = b.RESTURL()
	f.opts.Endpoints[1].AdminUsername, f.opts.Endpoints[1].AdminPassword = "admin", secret.New("not-the-password")
	sub := f.st.Subscribe(store.TopicEndpoints)
	defer sub.Close()
	f.start()

	// First check, before the endpoint has polled: it reports its calendar as CONNECTING.
	row := waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return e.Product != "" })
	assert.Equal(t, "StudioX50", row.Product)
	assert.Equal(t, "4.1.0-340031", row.Software)
	cert := a.RESTCertificate()
	sum := sha256.Sum256(cert.Certificate[0])
	assert.Equal(t, hex.EncodeToString(sum[:]), row.CertSHA256, "pinned on first use")
	assert.Equal(t, "CONNECTING", restOf(t, row).Calendar)
	assert.Equal(t, health.Warning, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-a").Message, "reports its calendar as CONNECTING")

	rowB := waitRow(t, f.st, sub, "poly-b", func(e store.EndpointState) bool { return restOf(t, e).Error != "" })
	assert.Contains(t, restOf(t, rowB).Error, "REST login refused")
	assert.Contains(t, healthOf(f.health, "poly/poly-b").Message, "REST login refused")
	assert.NotContains(t, healthOf(f.health, "poly/poly-b").Message, "not-the-password")

	// The endpoint polls while its calendar was last seen offline: it is checked again early
	// (after restRecheckMin, not restEvery), reports ONLINE, and health is fine.
	rearmed := f.clk.TimerCreated()
	require.NoError(t, a.PollNow(t.Context()))
	<-rearmed // poly-a's REST loop woke and sleeps restRecheckMin
	waitTimer(t, f.clk, 3)
	f.clk.Advance(restRecheckMin)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return restOf(t, e).Calendar == "ONLINE" })
	assert.Empty(t, restOf(t, row).Error)
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-a").Message, "StudioX50 4.1.0-340031")

	// A wrong calendar password on the device shows up both ways: its own status and ours.
	a.SetFaults(polysim.Faults{WrongPassword: true})
	require.Error(t, a.PollNow(t.Context()))
	waitTimer(t, f.clk, 3)
	f.clk.Advance(restEvery)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return restOf(t, e).Calendar == "ERR_AUTHENTICATION" })
	assert.Equal(t, store.EndpointAuthFailed, row.State)
	a.SetFaults(polysim.Faults{})
	require.NoError(t, a.PollNow(t.Context()))

	// The device is replaced (a new self-signed certificate): refused, reported with the fix.
	pinned := row.CertSHA256
	require.NoError(t, a.Reboot())
	waitTimer(t, f.clk, 3)
	f.clk.Advance(restEvery)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return row.SeenSHA256 != "" || e.SeenSHA256 != "" })
	assert.Equal(t, pinned, row.CertSHA256, "the pin is kept")
	assert.NotEqual(t, pinned, row.SeenSHA256)
	assert.Contains(t, restOf(t, row).Error, "certificate changed")
	assert.Contains(t, restOf(t, row).Error, "fingerprint: "+row.SeenSHA256)
	assert.Equal(t, health.Warning, healthOf(f.health, "poly/poly-a").Level)
	evs := events(t, f.st, "poly-a")
	assert.Equal(t, "endpoint.health", evs[len(evs)-1].Kind)
}
