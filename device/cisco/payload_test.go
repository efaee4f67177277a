package cisco

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

var (
	fwCE915    = ParseFirmware(ciscosim.CE915.Version, ciscosim.CE915.DisplayName)
	fwRoomOS11 = ParseFirmware(ciscosim.RoomOS11.Version, ciscosim.RoomOS11.DisplayName)
	fwRoomOS26 = ParseFirmware(ciscosim.RoomOS26.Version, ciscosim.RoomOS26.DisplayName)
)

func TestParseFirmware(t *testing.T) {
	cases := []struct {
		version, display string
		name             string
		caps             Caps
	}{
		{"ce9.15.17.4.5a3e2f11b54", "", "CE 9.15", Caps{CloudOnly: true, WebSocket: true}},
		{"ce9.6.1", "", "CE 9.6", Caps{}},
		{"ce10.19.4.2", "", "RoomOS 10.19", Caps{WebRTC: true, Platform: true, CloudOnly: true, WebSocket: true}},
		{"", "RoomOS 11.14.4.0 7e5b2c4d1f0", "RoomOS 11.14", Caps{WebRTC: true, Platform: true, WebSocket: true}},
		{"ce26.4.1.2.c81f09a6a35", "", "RoomOS 26.4", Caps{WebRTC: true, Platform: true, None: true, WebSocket: true}},
		{"", "", "unknown firmware", Caps{WebRTC: true, Platform: true, WebSocket: true}},
	}
	for _, tc := range cases {
		fw := ParseFirmware(tc.version, tc.display)
		assert.Equal(t, tc.name, fw.Name(), tc.version+tc.display)
		assert.Equal(t, tc.caps, fw.Caps(), tc.version+tc.display)
	}
	assert.Equal(t, "CE 9.15 has no WebRTC joins (Teams/Google Meet without a SIP address), no meeting platform icons", fwCE915.Limits())
	assert.Empty(t, fwRoomOS11.Limits())
	assert.Equal(t, "RoomOS 11.14.4.0", fwRoomOS11.Label())
}

func TestBuildPayloadIsDeterministicAndSorted(t *testing.T) {
	base := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	ms := providerMeetings("room@x", base)
	a := BuildPayload(ms, fwRoomOS11)
	reversed := make([]calendar.Meeting, len(ms))
	for i := range ms {
		reversed[len(ms)-1-i] = ms[i]
	}
	b := BuildPayload(reversed, fwRoomOS11)
	assert.Equal(t, string(a.Body), string(b.Body), "the order meetings come in does not matter")
	assert.Equal(t, a.Hash, b.Hash)
	assert.Len(t, a.Hash, 64)

	// Same start: ordered by id.
	tie := []calendar.Meeting{ms[2], ms[0]}
	tie[0].Start, tie[1].Start = base, base
	assert.Equal(t, []string{"teams-cvi", "zoom"}, BuildPayload(tie, fwRoomOS11).IDs())

	// The body is valid for the firmware, per the simulator's schema checks.
	for _, fw := range []struct {
		fw Firmware
		p  ciscosim.Profile
	}{{fwCE915, ciscosim.CE915}, {fwRoomOS11, ciscosim.RoomOS11}, {fwRoomOS26, ciscosim.RoomOS26}} {
		p := BuildPayload(ms, fw.fw)
		got, err := ciscosim.ParsePut(string(p.Body), fw.p)
		require.NoError(t, err, fw.p.Name)
		assert.Len(t, got, len(p.Bookings))
	}
	assert.Contains(t, string(a.Body), `"Title":"Zoom & friends"`, "no HTML escaping")
	assert.False(t, strings.HasSuffix(string(a.Body), "\n"))
}

func TestBookingFields(t *testing.T) {
	start := time.Date(2026, 3, 4, 9, 0, 30, 0, time.FixedZone("CET", 3600))
	m := calendar.Meeting{
		ID: strings.Repeat("x", 200), Start: start, End: start.Add(44*time.Minute + 10*time.Second),
		StartBuffer: calendar.Duration(10 * time.Minute), EndBuffer: calendar.Duration(2 * time.Minute),
		Subject: "  ", Organizer: "", OrganizerEmail: "ada@contoso.example", Private: true,
		Join: true, Number: "h323:10.0.0.1##123", Protocol: "",
	}
	p := BuildPayload([]calendar.Meeting{m}, fwRoomOS11)
	require.Len(t, p.Bookings, 1)
	b := p.Bookings[0]
	assert.LessOrEqual(t, len(b.ID), MaxIDLength)
	assert.Equal(t, BookingID(m.ID), b.ID, "a long id is hashed, stably")
	assert.Equal(t, "ada@contoso.example", b.Title, "an empty subject shows the organizer")
	assert.Equal(t, "ada@contoso.example", b.Organizer.Name)
	assert.Equal(t, "Private", b.Privacy)
	assert.Equal(t, BookingTime{StartTime: "2026-03-04T08:00:30Z", Duration: 45, StartTimeBuffer: 600, EndTimeBuffer: 120}, b.Time)
	assert.Equal(t, "H323", b.Protocol, "guessed from the number when the rules left it empty")
	assert.Equal(t, "Other", b.MeetingPlatform)

	var doc map[string][]map[string]any
	require.NoError(t, json.Unmarshal(p.Body, &doc))
	assert.Equal(t, []string{"CallType", "Id", "MeetingPlatform", "Number", "Organizer", "Privacy", "Protocol", "Time", "Title"}, keys(doc["Bookings"][0]))
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func TestSkippedMeetingsSayWhy(t *testing.T) {
	base := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	ms := providerMeetings("room@x", base)
	p := BuildPayload(ms, fwCE915)
	require.Len(t, p.Skipped, 3)
	reasons := map[string]Skip{}
	for _, s := range p.Skipped {
		reasons[s.ID] = s
	}
	assert.True(t, reasons["teams-webrtc"].LostJoin)
	assert.Contains(t, reasons["teams-webrtc"].Reason, "Microsoft Teams")
	assert.Contains(t, reasons["meet"].Reason, "Google Meet")
	assert.False(t, reasons["lunch"].LostJoin)
	assert.Contains(t, reasons["lunch"].Reason, "Protocol None needs RoomOS 26")

	odd := ms[1]
	odd.Platform = calendar.PlatformZoom
	p = BuildPayload([]calendar.Meeting{odd}, fwRoomOS11)
	require.Len(t, p.Skipped, 1)
	assert.Contains(t, p.Skipped[0].Reason, "only for Microsoft Teams and Google Meet")
	assert.Equal(t, `{"Bookings":[]}`, string(p.Body))
}

func TestWindow(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	now := time.Date(2026, 3, 4, 23, 30, 0, 0, loc)
	from, to := Window(now, loc, time.Hour, 1)
	assert.Equal(t, now.Add(-time.Hour), from)
	assert.Equal(t, time.Date(2026, 3, 6, 0, 0, 0, 0, loc), to, "the end of tomorrow")
	_, to = Window(now, loc, 0, 0)
	assert.Equal(t, time.Date(2026, 3, 5, 0, 0, 0, 0, loc), to, "the end of today")
	assert.Equal(t, time.Date(2026, 3, 5, 0, 0, 0, 0, loc), NextMidnight(now, loc))
}

func TestWebSocketURL(t *testing.T) {
	cases := map[string]string{
		"10.20.1.15":                 "wss://10.20.1.15/ws",
		"codec.example.com:8443":     "wss://codec.example.com:8443/ws",
		"[fe80::1]:443":              "wss://[fe80::1]:443/ws",
		"wss://codec.example.com/ws": "wss://codec.example.com/ws",
		"https://codec.example.com":  "wss://codec.example.com/ws",
		"wss://127.0.0.1:4443/":      "wss://127.0.0.1:4443/ws",
	}
	for in, want := range cases {
		got, err := WebSocketURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "ws://codec/ws", "ftp://x"} {
		_, err := WebSocketURL(bad)
		assert.Error(t, err, bad)
	}
}

func TestFingerprintFormats(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	assert.Equal(t, fp, NormalizeFingerprint(ColonFingerprint(fp)))
	assert.True(t, strings.HasPrefix(ColonFingerprint(fp), "AB:AB:"))
	assert.Equal(t, "AB:AB:AB:AB:AB:AB:AB:AB…", ShortFingerprint(fp))
}

func TestEndpointNeverPrintsItsPassword(t *testing.T) {
	ep := Endpoint{Name: "c", Room: "r@x", Address: "10.0.0.1", Username: "otj", Password: testPassword}
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "endpoint", ep)
	assert.NotContains(t, sb.String(), testPassword)
	assert.NotContains(t, fmt.Sprintf("%v %+v %s %#v", ep, ep, ep, ep), testPassword)
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	h := newHarness(t, false, time.Time{})
	_, err := New(Options{Store: h.st, Endpoints: []Endpoint{
		{Name: "a", Address: "ftp://x"},
		{Name: "b", Address: "10.0.0.1", CAFile: "/nonexistent/ca.pem"},
		{Name: "c", Address: "10.0.0.1"},
		{Name: "c", Address: "10.0.0.2"},
	}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cisco endpoint a: address")
	assert.Contains(t, err.Error(), "cisco endpoint b: ca_file")
	assert.Contains(t, err.Error(), "cisco endpoint c: configured twice")
	_, err = New(Options{})
	assert.ErrorContains(t, err, "store is required")
}
