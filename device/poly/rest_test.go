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

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/device/pin"
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

// waitREST returns once the REST scheduler has no check running and no wake to take, and waits
// on its timer beside the monitor: only then may the clock move.
func waitREST(t *testing.T, clk *clock.Fake, svc *Service) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		created := clk.TimerCreated()
		idle, quiet := svc.restBusy.Idle()
		if idle && clk.Timers() >= 2 {
			return
		}
		if quiet == nil {
			quiet = make(chan struct{})
		}
		select {
		case <-created:
		case <-quiet:
		case <-deadline:
			t.Fatalf("the REST scheduler did not settle (%d timers)", clk.Timers())
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
	svc := f.start()

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
	require.NoError(t, a.PollNow(t.Context()))
	waitREST(t, f.clk, svc) // poly-a's check is due restRecheckMin from the poll
	f.clk.Advance(restRecheckMin)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return restOf(t, e).Calendar == "ONLINE" })
	assert.Empty(t, restOf(t, row).Error)
	assert.Equal(t, "ONLINE", restOf(t, row).Calendar, "logged in and read the calendar with the accepted certificate")
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, healthOf(f.health, "poly/poly-a").Message, "StudioX50 4.1.0-340031")

	// A wrong calendar password on the device shows up both ways: its own status and ours.
	a.SetFaults(polysim.Faults{WrongPassword: true})
	require.Error(t, a.PollNow(t.Context()))
	waitREST(t, f.clk, svc)
	f.clk.Advance(restEvery)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return restOf(t, e).Calendar == "ERR_AUTHENTICATION" })
	assert.Equal(t, store.EndpointAuthFailed, row.State)
	a.SetFaults(polysim.Faults{})
	require.NoError(t, a.PollNow(t.Context()))

	// The device is replaced (a new self-signed certificate): refused before the login is
	// sent, and the row says so as a codec's does: cert_changed, the presented fingerprint
	// kept for `otj-edge endpoints trust`, the fix in the detail.
	pinned := row.CertSHA256
	require.NoError(t, a.Reboot())
	waitREST(t, f.clk, svc)
	f.clk.Advance(restEvery)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return e.SeenSHA256 != "" })
	fresh := a.RESTCertificate()
	sum = sha256.Sum256(fresh.Certificate[0])
	assert.Equal(t, hex.EncodeToString(sum[:]), row.SeenSHA256)
	assert.Equal(t, pinned, row.CertSHA256, "the pin is kept")
	assert.Equal(t, store.EndpointCertChanged, row.State)
	assert.Contains(t, row.Detail, "certificate changed: the endpoint presents "+pin.Colon(row.SeenSHA256))
	assert.Contains(t, row.Detail, "otj-edge endpoints trust poly-a")
	assert.Contains(t, restOf(t, row).Error, "certificate changed")
	assert.Equal(t, health.Warning, healthOf(f.health, "poly/poly-a").Level)
	evs := events(t, f.st, "poly-a")
	assert.Equal(t, []string{"endpoint.cert_changed", "endpoint.health"}, kinds(evs[len(evs)-2:]))

	// A poll does not hide it: the row stays cert_changed while the endpoint polls.
	require.NoError(t, a.PollNow(t.Context()))
	row, _, err = f.st.Endpoint(t.Context(), "poly-a")
	require.NoError(t, err)
	assert.Equal(t, store.EndpointCertChanged, row.State)

	// An operator accepts it (`otj-edge endpoints trust poly-a` from another process): the
	// running loop reads the pin again within CertRecheck and checks at once with it.
	_, err = f.st.TrustSeenCertificate(t.Context(), "poly-a")
	require.NoError(t, err)
	waitREST(t, f.clk, svc)
	f.clk.Advance(30 * time.Second)
	row = waitRow(t, f.st, sub, "poly-a", func(e store.EndpointState) bool { return e.State == store.EndpointUp })
	assert.Equal(t, hex.EncodeToString(sum[:]), row.CertSHA256, "the accepted certificate is the pin")
	assert.Empty(t, row.SeenSHA256)
	assert.Empty(t, restOf(t, row).Error)
	assert.Equal(t, "ONLINE", restOf(t, row).Calendar, "logged in and read the calendar with the accepted certificate")
	assert.Equal(t, health.OK, healthOf(f.health, "poly/poly-a").Level)
	assert.Contains(t, kinds(events(t, f.st, "poly-a")), "endpoint.cert_accepted")
}
