package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

const codecPassword = "codec-secret-value-456"

type testCodec struct {
	name, room string
	codec      *ciscosim.Codec
	password   string // what the config says (default: the codec's)
	extra      string // more YAML keys for the endpoint
}

// ciscoConfig writes a config whose Cisco endpoints point at simulated codecs.
func ciscoConfig(t *testing.T, codecs []testCodec) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(testSiteHead("off", "", "") + "  - name: default\nendpoints:\n")
	for _, c := range codecs {
		pw := c.password
		if pw == "" {
			pw = codecPassword
		}
		fmt.Fprintf(&b, "  - name: %s\n    type: cisco\n    room: %s\n    address: %s\n    username: otj\n    password: %s\n%s",
			c.name, c.room, c.codec.URL(), pw, c.extra)
	}
	return writeTestConfig(t, "", b.String())
}

func simFleet(t *testing.T) *ciscosim.Fleet {
	f := ciscosim.NewFleet(ciscosim.Options{TickEvery: -1})
	t.Cleanup(f.Close)
	return f
}

func addSimCodec(t *testing.T, f *ciscosim.Fleet, name string, cfg ciscosim.CodecConfig) *ciscosim.Codec {
	t.Helper()
	cfg.Name = name
	if cfg.Users == nil {
		cfg.Users = []ciscosim.User{{Username: "otj", Password: codecPassword, Roles: []string{ciscosim.RoleAdmin}}}
	}
	c, err := f.Add(cfg)
	require.NoError(t, err)
	return c
}

func TestCheckCiscoOneLinePerCodecOneLoginEach(t *testing.T) {
	f := simFleet(t)
	good := addSimCodec(t, f, "good", ciscosim.CodecConfig{SystemName: "Bjorvika"})
	wrong := addSimCodec(t, f, "wrong-password", ciscosim.CodecConfig{})
	user := addSimCodec(t, f, "user-role", ciscosim.CodecConfig{Users: []ciscosim.User{{Username: "otj", Password: codecPassword, Roles: []string{ciscosim.RoleUser}}}})
	onprem := addSimCodec(t, f, "ce9-onprem", ciscosim.CodecConfig{Profile: ciscosim.CE915, NotCloudRegistered: true})
	mtr := addSimCodec(t, f, "mtr", ciscosim.CodecConfig{Profile: ciscosim.RoomOS26MTR})
	pinned := addSimCodec(t, f, "changed-cert", ciscosim.CodecConfig{})
	path := ciscoConfig(t, []testCodec{
		{name: "good", room: "room-1@example.com", codec: good},
		{name: "wrong-password", room: "room-2@example.com", codec: wrong, password: "not-the-password-789"},
		{name: "user-role", room: "room-3@example.com", codec: user},
		{name: "ce9-onprem", room: "room-4@example.com", codec: onprem},
		{name: "mtr", room: "room-5@example.com", codec: mtr},
		{name: "changed-cert", room: "room-6@example.com", codec: pinned},
	})
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)

	// The agent pinned changed-cert's previous certificate.
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		return tx.PutEndpoint(store.EndpointState{Name: "changed-cert", Type: "cisco", Room: "room-6@example.com", CertSHA256: strings.Repeat("ab", 32)})
	}))
	require.NoError(t, st.Close())

	var out bytes.Buffer
	failed := checkCisco(t.Context(), cfg, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	assert.Regexp(t, `^ok    cisco/good: wss://127\.0\.0\.1:\d+/ws, Cisco Webex Room Kit Pro "Bjorvika", RoomOS 11\.14\.4\.0; user otj is Admin; Bookings Put available; 0 bookings on the codec; certificate [0-9A-F:]+ not pinned yet`, lines[0])
	assert.Equal(t, "FAIL  cisco/wrong-password: wrong username or password for user otj (HTTP 403); not retried: the codec locks the account after 5 failed logins", lines[1])
	assert.Contains(t, lines[2], "FAIL  cisco/user-role: ")
	assert.Contains(t, lines[2], "user otj is not Admin; Bookings Put NOT available (the user is not an Admin; Bookings Put needs the Admin role)")
	assert.Contains(t, lines[3], "FAIL  cisco/ce9-onprem: ")
	assert.Contains(t, lines[3], "CE 9.15 takes Bookings Put only when registered to Webex or linked with Webex Edge for Devices (Webex status: Disabled)")
	assert.Contains(t, lines[4], "ok    cisco/mtr: ")
	assert.Contains(t, lines[4], "unless the codec runs Microsoft Teams Rooms")
	assert.Contains(t, lines[5], "FAIL  cisco/changed-cert: certificate changed")
	assert.Contains(t, lines[5], "otj-edge endpoints trust changed-cert")
	assert.Equal(t, 4, failed)
	assert.NotContains(t, out.String(), codecPassword)
	assert.NotContains(t, out.String(), "not-the-password-789")

	for _, c := range []*ciscosim.Codec{good, wrong, user, onprem, mtr} {
		assert.Equal(t, 1, c.Stats().Handshakes.Attempts, "one login attempt on %s", c.Name())
	}
	assert.Equal(t, 0, pinned.Stats().Handshakes.Attempts, "a changed certificate gets no credentials")
	assert.Empty(t, good.Puts(), "check never pushes")
}

func TestEndpointsListAndTrustWhileTheDriverRuns(t *testing.T) {
	f := simFleet(t)
	room := "room-1@example.com"
	codec := addSimCodec(t, f, "codec-1", ciscosim.CodecConfig{})
	other := addSimCodec(t, f, "codec-2", ciscosim.CodecConfig{})
	path := ciscoConfig(t, []testCodec{
		{name: "codec-1", room: room, codec: codec},
		{name: "codec-2", room: "room-2@example.com", codec: other, extra: "    fingerprint: " + strings.Repeat("ab", 32) + "\n"},
	})
	cfg, err := loadConfig(path, IO{Env: os.LookupEnv})
	require.NoError(t, err)

	// The agent's side: its store and the Cisco driver, as the agent wires them.
	st, err := store.Open(t.Context(), cfg.DBPath(), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Write(t.Context(), func(tx *store.Tx) error {
		if err := tx.SyncRooms([]store.RoomRef{{Mailbox: room, Integration: "m365"}, {Mailbox: "room-2@example.com", Integration: "m365"}}); err != nil {
			return err
		}
		if err := tx.SyncEndpoints([]store.EndpointRef{{Name: "codec-1", Type: "cisco", Room: room}, {Name: "codec-2", Type: "cisco", Room: "room-2@example.com"}}); err != nil {
			return err
		}
		start := time.Now().UTC().Add(time.Hour)
		_, err := stored.ReplaceMeetings(tx, room, []calendar.Meeting{{ID: "m1", Start: start, End: start.Add(time.Hour), Subject: "Planning",
			Organizer: "Ada", Join: true, Number: "m1@vc.example.com", Protocol: "SIP", Platform: "Other"}})
		if err != nil {
			return err
		}
		// Both rooms have synced and been resolved before (an existing store): the codecs are
		// dialled at start (on demand, a codec of a room not synced yet waits for the sync or
		// its first liveness check).
		synced := time.Now()
		for _, r := range []string{room, "room-2@example.com"} {
			if err := tx.PutRoom(store.RoomState{Mailbox: r, Integration: "m365", Status: store.RoomOK, LastSuccess: synced}); err != nil {
				return err
			}
			if err := tx.MarkResolved(r, synced); err != nil {
				return err
			}
		}
		return nil
	}))
	var eps []cisco.Endpoint
	for _, e := range cfg.Endpoints {
		eps = append(eps, cisco.Endpoint{Name: e.Name, Room: e.Room, Address: e.Address, Username: e.Username,
			Password: e.Password.Value(), Fingerprint: e.Fingerprint, CAFile: e.CAFile})
	}
	m, err := cisco.New(cisco.Options{Endpoints: eps, Store: st, WindowPast: time.Hour, WindowDays: 1, CertRecheck: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); assert.NoError(t, m.Run(ctx)) }()
	defer func() { cancel(); <-done }()

	waitState := func(name string, ok func(store.EndpointState) bool) store.EndpointState {
		t.Helper()
		sub := st.Subscribe(store.TopicEndpoints)
		defer sub.Close()
		deadline := time.After(15 * time.Second)
		for {
			e, _, err := st.Endpoint(context.Background(), name)
			require.NoError(t, err)
			if ok(e) {
				return e
			}
			select {
			case <-sub.C:
				sub.Take()
			case <-deadline:
				t.Fatalf("%s: still %s: %s", name, e.State, e.Detail)
			}
		}
	}
	waitState("codec-1", func(e store.EndpointState) bool { return e.PushHash != "" })
	waitState("codec-2", func(e store.EndpointState) bool { return e.State == store.EndpointCertChanged })

	code, stdout, stderr := runCLI(t, nil, "endpoints", "--config", path)
	require.Equal(t, ExitOK, code, stderr)
	lines := strings.Split(stdout, "\n")
	assert.Regexp(t, `^NAME\s+TYPE\s+ROOM\s+STATE\s+FIRMWARE\s+LAST PUSH/POLL\s+CERTIFICATE$`, lines[0])
	assert.Regexp(t, `^codec-1\s+cisco\s+room-1@example\.com\s+up\s+RoomOS 11\.14\.4\.0\s+push \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+pinned [0-9A-F:]{23}…$`, lines[1])
	assert.Regexp(t, `^codec-2\s+cisco\s+room-2@example\.com\s+cert_changed\s+-\s+-\s+CHANGED: presents [0-9A-F:]{23}…$`, lines[2])
	assert.Contains(t, stdout, "  codec-1: 1 bookings pushed")
	assert.Contains(t, stdout, "  codec-2: presents "+cisco.ColonFingerprint(other.Fingerprint()))

	// codec-1 is reset: new certificate. The driver refuses it; the operator trusts it with
	// the CLI while the driver runs, and the driver connects with the new pin.
	fresh, err := codec.RotateCertificate()
	require.NoError(t, err)
	waitState("codec-1", func(e store.EndpointState) bool { return e.State == store.EndpointCertChanged })
	puts := len(codec.Puts())

	code, stdout, stderr = runCLI(t, nil, "endpoints", "trust", "codec-1", "--config", path)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "codec-1: now trusting certificate "+cisco.ColonFingerprint(fresh))
	e := waitState("codec-1", func(e store.EndpointState) bool { return e.State == store.EndpointUp })
	assert.Equal(t, fresh, e.CertSHA256)
	assert.Eventually(t, func() bool { return len(codec.Puts()) > puts }, 15*time.Second, 10*time.Millisecond, "pushed again after reconnecting")

	code, _, stderr = runCLI(t, nil, "endpoints", "trust", "codec-1", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "its certificate has not changed (state up); nothing to trust")

	code, _, stderr = runCLI(t, nil, "endpoints", "trust", "codec-2", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Regexp(t, `pins its certificate with fingerprint in .*config\.yaml:\d+; change it there`, stderr)

	code, _, stderr = runCLI(t, nil, "endpoints", "trust", "--config", path)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "one endpoint name")
	code, _, stderr = runCLI(t, nil, "endpoints", "frob", "--config", path)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown action "frob"`)
	code, _, stderr = runCLI(t, nil, "endpoints", "trust", "nope", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `no endpoint named "nope"`)
}

func TestEndpointsWithoutAStoreSaysSo(t *testing.T) {
	f := simFleet(t)
	path := ciscoConfig(t, []testCodec{{name: "codec-1", room: "room-1@example.com", codec: addSimCodec(t, f, "codec-1", ciscosim.CodecConfig{})}})
	code, _, stderr := runCLI(t, nil, "endpoints", "--config", path)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "no database yet")
}

// TestEndpointsRetryMakesOneLoginNow: the codec refused the configured password; the agent
// waits 5 minutes between attempts. `endpoints retry` makes one attempt at once: with the
// password still wrong it says so, once fixed on the codec it connects and pushes.
func TestEndpointsRetryMakesOneLoginNow(t *testing.T) {
	f := simFleet(t)
	room := "room-1@example.com"
	codec := addSimCodec(t, f, "codec-1", ciscosim.CodecConfig{})
	cfg := offlineCiscoSite(t, freePort(t), room, codec, "fixed-on-the-codec-later-789")
	storeSyncedRoom(t, cfg, room)
	a, logs := runTestAgent(t, cfg)
	// The retry that connects below pushes only once the processor has resolved the room (the
	// first-sync gate; otherwise it answers "waiting"): the processor runs beside the codec's
	// first login, so wait for its mark rather than assume it came first.
	waitStore(t, a.store, "the room's meetings resolved", func() bool {
		ok, _, err := a.store.RoomResolved(t.Context(), room)
		return err == nil && ok
	})
	deadline := time.After(30 * time.Second)
	for codec.Stats().Handshakes.ByStatus[http.StatusForbidden] == 0 {
		select {
		case <-codec.HandshakeSignal():
		case <-deadline:
			t.Fatalf("no login attempt\n%s", logs)
		}
	}
	require.Equal(t, 1, codec.Stats().Handshakes.Attempts)

	// A push waits for its result and fails; it never logs in while the agent waits.
	code, out, errOut := runCLI(t, nil, "push", "--config", cfg.File)
	assert.Equal(t, ExitFailure, code, out+errOut)
	assert.Contains(t, out, "push to every endpoint that takes pushes: 1 failed")
	assert.Regexp(t, `codec-1\s+failed\s+failed: wrong username or password \(HTTP 403\).*\(no login attempted: `+"`otj-edge endpoints retry codec-1`"+` makes one now\)`, out)
	assert.Contains(t, errOut, "push failed for 1 of 1 endpoints: codec-1")
	_, err := mqttCommands{a}.Push(t.Context(), "")
	assert.ErrorContains(t, err, "push failed for 1 of 1 Cisco endpoints: codec-1: failed: wrong username or password (HTTP 403)")
	assert.Equal(t, 1, codec.Stats().Handshakes.Attempts, "no login")

	code, out, errOut = runCLI(t, nil, "endpoints", "retry", "codec-1", "--config", cfg.File)
	assert.Equal(t, ExitFailure, code, out+errOut)
	assert.Contains(t, out, "retry of codec-1: still not connected: wrong username or password (HTTP 403)")
	assert.Contains(t, out, "the agent tries again by itself at ")
	assert.Equal(t, 2, codec.Stats().Handshakes.Attempts, "one login")

	codec.SetUser(ciscosim.User{Username: "otj", Password: "fixed-on-the-codec-later-789", Roles: []string{ciscosim.RoleAdmin}})
	code, out, errOut = runCLI(t, nil, "endpoints", "retry", "codec-1", "--config", cfg.File, "--json")
	require.Equal(t, ExitOK, code, out+errOut)
	var res web.ActionResult
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.True(t, res.OK)
	require.Len(t, res.Endpoints, 1)
	assert.Equal(t, web.EndpointResult{Endpoint: "codec-1", Outcome: web.PushPushed, Bookings: 1, State: store.EndpointUp,
		Detail: "1 bookings pushed", Connected: true, Attempts: 1}, res.Endpoints[0])
	assert.Equal(t, 3, codec.Stats().Handshakes.Attempts, "one more login")
	require.Len(t, codec.Bookings(), 1)
	assert.Equal(t, "Vendor VMR", codec.Bookings()[0].Title)
	assert.NotContains(t, logs.String(), "fixed-on-the-codec-later-789")

	// Connected now: a push over MQTT answers with the result.
	got, err := mqttCommands{a}.Push(t.Context(), "codec-1")
	require.NoError(t, err)
	b, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, `{"summary": "1 pushed unchanged", "endpoints": [{"endpoint": "codec-1", "outcome": "unchanged", "bookings": 1,
		"state": "up", "detail": "1 bookings pushed", "connected": true, "attempts": 0}]}`, string(b))

	code, _, errOut = runCLI(t, nil, "endpoints", "retry", "nope", "--config", cfg.File)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, `no endpoint named "nope"`)
}
