package agent

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/device/poly"
	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/store"
)

// TestPolyRESTCertificateChangeIsTrustedLikeACodecs: a Poly endpoint's REST API presents a new
// certificate (the device was reset). The running calendar service refuses it before logging
// in, the endpoint goes to cert_changed with the presented fingerprint, `otj-edge endpoints`
// shows it as it shows a codec's, and `otj-edge endpoints trust` accepts it: the service reads
// the new pin and its next health check logs in with it.
func TestPolyRESTCertificateChangeIsTrustedLikeACodecs(t *testing.T) {
	fl, err := polysim.Start(t.Context(), polysim.Options{Endpoints: []polysim.EndpointOptions{
		{Name: "poly-1", Room: "room-2@example.com", RESTPassword: "rest-secret-value-1"},
	}})
	require.NoError(t, err)
	defer fl.Close()
	device := fl.Endpoint("poly-1")
	path := minimalConfig(t, `  - name: poly-1
    type: poly
    room: room-2@example.com
    calendar_username: poly-1
    calendar_password: calendar-secret-value-1
    address: `+device.RESTURL()+`
    username: admin
    password: rest-secret-value-1
ews:
  listen: `+freePort(t)+`
`)
	cfg, err := loadConfig(path, IO{Stdout: io.Discard, Stderr: io.Discard, Env: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)

	// The calendar service as the agent builds it (endpoints_poly.go), with short timers.
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	opts := polyOptions(cfg)
	opts.Store, opts.RESTEvery, opts.CertRecheck = st, 100*time.Millisecond, 50*time.Millisecond
	svc, err := poly.NewService(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); assert.NoError(t, svc.Run(ctx)) }()
	defer func() { cancel(); <-done }()

	restError := func(e store.EndpointState) (string, bool) {
		var d struct {
			REST *struct {
				Error    string `json:"error"`
				Calendar string `json:"calendar"`
			} `json:"rest"`
		}
		if json.Unmarshal(e.Data, &d) != nil || d.REST == nil {
			return "", false
		}
		return d.REST.Error, true
	}
	waitState := func(ok func(store.EndpointState) bool) store.EndpointState {
		t.Helper()
		sub := st.Subscribe(store.TopicEndpoints)
		defer sub.Close()
		deadline := time.After(15 * time.Second)
		for {
			e, _, err := st.Endpoint(t.Context(), "poly-1")
			require.NoError(t, err)
			if ok(e) {
				return e
			}
			select {
			case <-sub.C:
				sub.Take()
			case <-deadline:
				t.Fatalf("poly-1: still %s: %s (%s)", e.State, e.Detail, e.Data)
			}
		}
	}
	first := waitState(func(e store.EndpointState) bool { msg, ok := restError(e); return ok && msg == "" })
	cert := device.RESTCertificate()
	assert.Equal(t, pin.Fingerprint(cert.Certificate[0]), first.CertSHA256, "pinned on first use")

	// The device is reset: a new certificate, found at the next check.
	require.NoError(t, device.Reboot())
	cert = device.RESTCertificate()
	fresh := pin.Fingerprint(cert.Certificate[0])
	changed := waitState(func(e store.EndpointState) bool { return e.State == store.EndpointCertChanged })
	assert.Equal(t, fresh, changed.SeenSHA256)
	assert.Equal(t, first.CertSHA256, changed.CertSHA256, "the pin is kept")
	assert.Contains(t, changed.Detail, "otj-edge endpoints trust poly-1")

	code, out, errOut := runCLI(t, nil, "endpoints", "--config", path)
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `poly-1\s+poly\s+room-2@example\.com\s+cert_changed\s+\S+\s+-\s+CHANGED: presents [0-9A-F:]{23}…`, out)
	assert.Contains(t, out, "  poly-1: presents "+pin.Colon(fresh))

	code, out, errOut = runCLI(t, nil, "endpoints", "trust", "poly-1", "--config", path)
	require.Equal(t, ExitOK, code, out+errOut)
	assert.Contains(t, out, "poly-1: now trusting certificate "+pin.Colon(fresh))

	ok := waitState(func(e store.EndpointState) bool {
		msg, checked := restError(e)
		return checked && msg == "" && e.State != store.EndpointCertChanged
	})
	assert.Equal(t, fresh, ok.CertSHA256, "the accepted certificate is the pin")
	assert.Empty(t, ok.SeenSHA256)
	assert.Equal(t, store.EndpointUnknown, ok.State, "back to its polling state (it has not polled here)")
	assert.Empty(t, ok.Detail)
}
