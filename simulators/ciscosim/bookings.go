package ciscosim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Booking is one entry of a Bookings Put payload (schema 26.4.1; README "Cisco endpoints").
type Booking struct {
	Id              string      `json:"Id"`
	Title           string      `json:"Title"`
	Agenda          string      `json:"Agenda,omitempty"`
	Privacy         string      `json:"Privacy,omitempty"`
	Organizer       Organizer   `json:"Organizer"`
	Time            BookingTime `json:"Time"`
	Number          string      `json:"Number"`
	Protocol        string      `json:"Protocol"`
	MeetingPlatform string      `json:"MeetingPlatform,omitempty"`
	MeetingId       string      `json:"MeetingId,omitempty"`
	MetaInfo        string      `json:"MetaInfo,omitempty"`
	CallType        string      `json:"CallType,omitempty"`
	Encryption      string      `json:"Encryption,omitempty"`
}

// Organizer of a booking.
type Organizer struct {
	Name  string `json:"Name"`
	Email string `json:"Email,omitempty"`
	Id    string `json:"Id,omitempty"`
}

// BookingTime is when a booking is: StartTime in UTC, Duration in minutes, buffers in seconds.
type BookingTime struct {
	StartTime       string `json:"StartTime"`
	Duration        int    `json:"Duration"`
	StartTimeBuffer *int   `json:"StartTimeBuffer,omitempty"`
	EndTimeBuffer   *int   `json:"EndTimeBuffer,omitempty"`
}

// PutPayload is the Bookings Put document.
type PutPayload struct {
	Bookings []Booking `json:"Bookings"`
}

func (b Booking) start() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, b.Time.StartTime)
	return t
}

func (b Booking) end() time.Time { return b.start().Add(time.Duration(b.Time.Duration) * time.Minute) }

func (b Booking) buffers() (time.Duration, time.Duration) {
	var s, e time.Duration
	if b.Time.StartTimeBuffer != nil {
		s = time.Duration(*b.Time.StartTimeBuffer) * time.Second
	}
	if b.Time.EndTimeBuffer != nil {
		e = time.Duration(*b.Time.EndTimeBuffer) * time.Second
	}
	return s, e
}

// Enumerations Bookings Put checks (beyond Protocol and MeetingPlatform, which depend on the
// firmware).
var (
	privacyValues    = []string{"Private", "Public"}
	callTypeValues   = []string{"Audio", "Video"}
	encryptionValues = []string{"On", "Off"}
)

// ErrCause is the data.Cause the simulator returns for an invalid Put body (CSxAPI reads 27 as
// "illegal argument value"; what a real codec returns for a bad body is unconfirmed).
const ErrCause = 27

// ParsePut validates a Bookings Put body against the schema rules and the firmware profile:
// required fields, enumerations, the WebRTC platform rule, Id length and uniqueness, and (CE
// 9.15) no MeetingPlatform at all. Unknown keys are refused.
func ParsePut(body string, p Profile) ([]Booking, error) {
	var top struct {
		Bookings []json.RawMessage `json:"Bookings"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("body is not a valid Bookings document: %v", err)
	}
	if top.Bookings == nil {
		return nil, errors.New("body: Bookings is required")
	}
	out := make([]Booking, 0, len(top.Bookings))
	seen := map[string]bool{}
	for i, raw := range top.Bookings {
		b, err := parseBooking(raw, p)
		if err != nil {
			return nil, fmt.Errorf("Bookings[%d]: %v", i, err)
		}
		if seen[b.Id] {
			return nil, fmt.Errorf("Bookings[%d]: Id %q appears twice", i, b.Id)
		}
		seen[b.Id] = true
		out = append(out, b)
	}
	return out, nil
}

func parseBooking(raw json.RawMessage, p Profile) (Booking, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Booking{}, fmt.Errorf("not an object: %v", err)
	}
	for _, k := range []string{"Id", "Title", "Number", "Protocol", "Organizer", "Time"} {
		if _, ok := keys[k]; !ok {
			return Booking{}, fmt.Errorf("%s is required", k)
		}
	}
	if _, ok := keys["MeetingPlatform"]; ok && p.Platforms == nil {
		return Booking{}, fmt.Errorf("unknown parameter MeetingPlatform (not in the %s schema)", p.DisplayName)
	}
	var b Booking
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Booking{}, fmt.Errorf("%v", err)
	}
	var tkeys map[string]json.RawMessage
	_ = json.Unmarshal(keys["Time"], &tkeys)
	var okeys map[string]json.RawMessage
	_ = json.Unmarshal(keys["Organizer"], &okeys)
	switch {
	case b.Id == "" || len(b.Id) > 128:
		return b, fmt.Errorf("Id must be 1–128 characters (got %d)", len(b.Id))
	case strings.TrimSpace(b.Title) == "":
		return b, errors.New("Title is required")
	case okeys["Name"] == nil || strings.TrimSpace(b.Organizer.Name) == "":
		return b, errors.New("Organizer.Name is required")
	case tkeys["StartTime"] == nil:
		return b, errors.New("Time.StartTime is required")
	case tkeys["Duration"] == nil:
		return b, errors.New("Time.Duration is required (minutes)")
	case b.Time.Duration < 0:
		return b, errors.New("Time.Duration cannot be negative")
	case !strings.HasSuffix(b.Time.StartTime, "Z"):
		return b, fmt.Errorf("Time.StartTime %q must be UTC (…Z)", b.Time.StartTime)
	}
	if _, err := time.Parse(time.RFC3339Nano, b.Time.StartTime); err != nil {
		return b, fmt.Errorf("Time.StartTime %q is not a valid time", b.Time.StartTime)
	}
	if (b.Time.StartTimeBuffer != nil && *b.Time.StartTimeBuffer < 0) || (b.Time.EndTimeBuffer != nil && *b.Time.EndTimeBuffer < 0) {
		return b, errors.New("Time buffers cannot be negative")
	}
	if !p.hasProtocol(b.Protocol) {
		return b, fmt.Errorf("Protocol %q is not valid on %s (valid: %s)", b.Protocol, p.DisplayName, strings.Join(p.Protocols, ", "))
	}
	if b.Number == "" && !strings.EqualFold(b.Protocol, "None") {
		return b, errors.New("Number is required")
	}
	if b.MeetingPlatform != "" && !p.hasPlatform(b.MeetingPlatform) {
		return b, fmt.Errorf("MeetingPlatform %q is not valid on %s (valid: %s)", b.MeetingPlatform, p.DisplayName, strings.Join(p.Platforms, ", "))
	}
	if strings.EqualFold(b.Protocol, "WebRTC") && !containsFold([]string{"MicrosoftTeams", "GoogleMeet"}, b.MeetingPlatform) {
		return b, fmt.Errorf("Protocol WebRTC needs MeetingPlatform MicrosoftTeams or GoogleMeet (got %q)", b.MeetingPlatform)
	}
	for _, f := range []struct {
		name, v string
		valid   []string
	}{
		{"Privacy", b.Privacy, privacyValues},
		{"CallType", b.CallType, callTypeValues},
		{"Encryption", b.Encryption, encryptionValues},
	} {
		if f.v != "" && !containsFold(f.valid, f.v) {
			return b, fmt.Errorf("%s %q is not one of %s", f.name, f.v, strings.Join(f.valid, ", "))
		}
	}
	return b, nil
}

// Bookings returns the codec's current bookings (the Put form).
func (c *Codec) Bookings() []Booking {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Booking(nil), c.bookings...)
}

// Puts returns every Bookings Put received, oldest first.
func (c *Codec) Puts() []PutRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]PutRecord(nil), c.puts...)
}

// PutCount is how many Bookings Puts the codec has received (accepted or not, any source).
func (c *Codec) PutCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.puts)
}

// PutSignal returns a channel closed at the next Bookings Put received (accepted or not).
func (c *Codec) PutSignal() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.putSignal
}

// ForeignPut applies a Bookings Put as another system would (TMS, a second OTJ service): a
// full replace of the list, recorded with source "admin".
func (c *Codec) ForeignPut(body string) error {
	_, rerr := c.put(User{Username: "other-system", Roles: []string{RoleAdmin}}, body, "admin")
	if rerr != nil {
		return rerr
	}
	return nil
}

// recordDropped records a Put that arrived on a connection the DropNext fault then cut: it
// was received, never applied, never answered.
func (c *Codec) recordDropped(u User, req request) {
	if !strings.EqualFold(req.Method, "xCommand/Bookings/Put") {
		return
	}
	var p map[string]any
	_ = json.Unmarshal(req.Params, &p)
	body, _ := bodyParam(p)
	sum := sha256.Sum256([]byte(body))
	c.mu.Lock()
	c.puts = append(c.puts, PutRecord{At: c.now(), User: u.Username, Source: "xapi", Body: body, Hash: hex.EncodeToString(sum[:]),
		Error: "connection dropped before the answer (fault injection)"})
	c.stats.Puts++
	close(c.putSignal)
	c.putSignal = make(chan struct{})
	c.mu.Unlock()
}

// put is Bookings Put: role and firmware checks, validation, full replace.
func (c *Codec) put(u User, body string, source string) (any, *rpcError) {
	c.mu.Lock()
	rec := PutRecord{At: c.now(), User: u.Username, Source: source, Body: body}
	sum := sha256.Sum256([]byte(body))
	rec.Hash = hex.EncodeToString(sum[:])
	p := c.profile
	var rerr *rpcError
	var list []Booking
	switch {
	case !u.has(RoleAdmin):
		rerr = errPermission
	case p.TeamsRooms:
		rerr = commandError(1, "Command not available: the device is in Microsoft Teams Rooms mode (MicrosoftTeamsInstalled)")
	case p.PutNeedsCloud && c.cfg.NotCloudRegistered:
		rerr = commandError(1, "Bookings Put applies to devices registered to the Webex cloud service or linked to Webex Edge for Devices")
	default:
		var err error
		list, err = ParsePut(body, p)
		if err != nil {
			rerr = commandError(ErrCause, err.Error())
		}
	}
	if rerr != nil {
		rec.Error = rerr.Message
	} else {
		rec.Accepted = true
		rec.Bookings = list
		rec.Count = len(list)
		c.replaceLocked(list)
	}
	c.puts = append(c.puts, rec)
	c.stats.Puts++
	close(c.putSignal)
	c.putSignal = make(chan struct{})
	c.mu.Unlock()
	if rerr != nil {
		c.log.Info("bookings put refused", "user", u.Username, "err", rerr.Message)
		return nil, rerr
	}
	c.log.Info("bookings put", "user", u.Username, "bookings", len(list), "source", source)
	c.emitEvent([]string{"Bookings", "Updated"}, map[string]any{})
	c.Tick()
	return map[string]any{"status": "OK"}, nil
}

// replaceLocked stores a new list; instants already past count as fired, so a Put in the middle
// of a meeting does not replay its start.
func (c *Codec) replaceLocked(list []Booking) {
	c.bookings = append([]Booking(nil), list...)
	sort.SliceStable(c.bookings, func(i, j int) bool { return c.bookings[i].start().Before(c.bookings[j].start()) })
	now := c.now()
	phases := map[string]uint8{}
	for _, b := range c.bookings {
		k := phaseKey(b)
		if old, ok := c.phases[k]; ok {
			phases[k] = old
			continue
		}
		var fired uint8
		for _, ph := range bookingPhases(b) {
			if !ph.at.After(now) {
				fired |= ph.bit
			}
		}
		phases[k] = fired
	}
	c.phases = phases
}

func phaseKey(b Booking) string { return b.Id + "\x00" + b.Time.StartTime }

type phase struct {
	bit   uint8
	name  string
	at    time.Time
	event map[string]any
}

// bookingPhases are the instants a booking fires events at (schema 26.4.1, Event Bookings).
func bookingPhases(b Booking) []phase {
	start, end := b.start(), b.end()
	sb, eb := b.buffers()
	ev := func(extra map[string]any) map[string]any {
		m := map[string]any{"Id": b.Id}
		if b.MeetingId != "" {
			m["MeetingId"] = b.MeetingId
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	ph := []phase{
		{1, "StartTimeBuffer", start.Add(-sb), ev(nil)},
		{2, "Start", start, ev(nil)},
		{8, "End", end, ev(map[string]any{
			"StartTime":         start.UTC().Format(time.RFC3339),
			"EndTime":           end.UTC().Format(time.RFC3339),
			"ScheduledDuration": b.Time.Duration,
		})},
		{16, "EndTimeBuffer", end.Add(eb), ev(nil)},
	}
	if end.Sub(start) > 5*time.Minute {
		ph = append(ph, phase{4, "TimeRemaining", end.Add(-5 * time.Minute), ev(map[string]any{"Seconds": 300})})
	}
	sort.SliceStable(ph, func(i, j int) bool { return ph[i].at.Before(ph[j].at) })
	return ph
}

// phaseDue reports whether a phase of b may be due at now and has not fired (under c.mu): the
// fleet ticks every codec every second, and building every booking's phases each time (a day of
// bookings on a thousand codecs) was 7 % of otj-sim's CPU in a cold start's profile.
func (c *Codec) phaseDue(b Booking, start, end, now time.Time) bool {
	sb, eb := b.buffers()
	earliest := start
	for _, t := range []time.Time{start.Add(-sb), end.Add(eb)} {
		if t.Before(earliest) {
			earliest = t
		}
	}
	if earliest.After(now) {
		return false
	}
	all := uint8(1 | 2 | 8 | 16)
	if end.Sub(start) > 5*time.Minute {
		all |= 4
	}
	return c.phases[phaseKey(b)]&all != all
}

// Tick fires the booking events whose time has come on the simulator clock and updates Status
// Bookings Current and Availability. The fleet calls it every TickEvery; tests on a fake clock
// call it after moving the clock.
func (c *Codec) Tick() {
	type fire struct {
		name string
		body map[string]any
	}
	var fires []fire
	c.mu.Lock()
	now := c.now()
	current := ""
	next := time.Time{}
	for _, b := range c.bookings {
		start := b.start()
		end := start.Add(time.Duration(b.Time.Duration) * time.Minute)
		if c.phaseDue(b, start, end, now) {
			k := phaseKey(b)
			for _, ph := range bookingPhases(b) {
				if c.phases[k]&ph.bit == 0 && !ph.at.After(now) {
					c.phases[k] |= ph.bit
					fires = append(fires, fire{ph.name, ph.event})
				}
			}
		}
		if current == "" && !now.Before(start) && now.Before(end) {
			current = b.Id
		}
		if start.After(now) && (next.IsZero() || start.Before(next)) {
			next = start
		}
	}
	avail := "Free"
	switch {
	case current != "":
		avail = "BookedUntil"
	case !next.IsZero():
		avail = "FreeUntil"
	}
	curChanged := current != c.current
	availChanged := avail != c.availabilityLocked()
	c.current = current
	c.availability = avail
	c.mu.Unlock()
	for _, f := range fires {
		c.emitEvent([]string{"Bookings", f.name}, f.body)
	}
	if curChanged {
		c.notifyChange([]string{"Status", "Bookings", "Current", "Id"})
	}
	if availChanged {
		c.notifyChange([]string{"Status", "Bookings", "Availability"})
	}
}

// emitEvent sends Event <path…> with body to the subscriptions covering it.
func (c *Codec) emitEvent(path []string, body map[string]any) {
	full := append([]string{"Event"}, path...)
	var nested any = body
	for i := len(path) - 1; i >= 0; i-- {
		nested = map[string]any{path[i]: nested}
	}
	c.feedback(full, map[string]any{"Event": nested})
}

// listItem renders a booking the way Bookings List and Get show it (field names from
// third-party code that reads real devices; parse them tolerantly).
func listItem(i int, b Booking) map[string]any {
	sb, eb := b.buffers()
	platform := b.MeetingPlatform
	item := map[string]any{
		"id":      i + 1,
		"Id":      b.Id,
		"Title":   b.Title,
		"Agenda":  b.Agenda,
		"Privacy": orDefault(b.Privacy, "Public"),
		"Organizer": map[string]any{
			"FirstName": b.Organizer.Name,
			"LastName":  "",
			"Email":     b.Organizer.Email,
			"Id":        b.Organizer.Id,
		},
		"Time": map[string]any{
			"StartTime":       b.start().UTC().Format(time.RFC3339),
			"StartTimeBuffer": int(sb / time.Second),
			"EndTime":         b.end().UTC().Format(time.RFC3339),
			"EndTimeBuffer":   int(eb / time.Second),
		},
		"MaximumMeetingExtension": "5",
		"BookingStatus":           "OK",
		"DialInfo": map[string]any{
			"Calls": map[string]any{"Call": []any{map[string]any{
				"id": 1, "Number": b.Number, "Protocol": b.Protocol, "CallRate": 6000, "CallType": orDefault(b.CallType, "Video"),
			}}},
			"ConnectMode": "OBTP",
		},
	}
	if platform != "" {
		item["MeetingPlatform"] = platform
	}
	if b.MeetingId != "" {
		item["MeetingId"] = b.MeetingId
	}
	return item
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// list is Bookings List on the codec: ListBookings over its current list and clock.
func (c *Codec) list(p map[string]any) (any, *rpcError) {
	c.mu.Lock()
	all := append([]Booking(nil), c.bookings...)
	now := c.now()
	c.mu.Unlock()
	res, err := ListBookings(all, now, c.fleet.location(), p)
	if err != nil {
		return nil, errf(codeInvalidParams, "Invalid params: "+err.Error())
	}
	return res, nil
}

func (c *Codec) get(p map[string]any) (any, *rpcError) {
	id, ok := p["Id"].(string)
	if !ok || id == "" || len(id) > 128 {
		return nil, errf(codeInvalidParams, "Invalid params: Id (1–128 characters) is required")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.bookings {
		if b.Id == id {
			return map[string]any{"status": "OK", "Booking": listItem(i, b)}, nil
		}
	}
	return nil, commandError(2, "No booking found with Id "+id)
}

func (c *Codec) delete(p map[string]any) (any, *rpcError) {
	id, ok := p["Id"].(string)
	if !ok || id == "" || len(id) > 128 {
		return nil, errf(codeInvalidParams, "Invalid params: Id (1–128 characters) is required")
	}
	c.mu.Lock()
	idx := -1
	for i, b := range c.bookings {
		if b.Id == id {
			idx = i
			break
		}
	}
	if idx < 0 {
		c.mu.Unlock()
		return nil, commandError(2, "No booking found with Id "+id)
	}
	c.bookings = append(c.bookings[:idx:idx], c.bookings[idx+1:]...)
	c.mu.Unlock()
	c.emitEvent([]string{"Bookings", "Updated"}, map[string]any{})
	c.Tick()
	return map[string]any{"status": "OK"}, nil
}

func (c *Codec) clear() (any, *rpcError) {
	c.mu.Lock()
	if c.profile.TeamsRooms {
		c.mu.Unlock()
		return nil, commandError(1, "Command not available: the device is in Microsoft Teams Rooms mode (MicrosoftTeamsInstalled)")
	}
	c.bookings = nil
	c.phases = map[string]uint8{}
	c.mu.Unlock()
	c.emitEvent([]string{"Bookings", "Updated"}, map[string]any{})
	c.Tick()
	return map[string]any{"status": "OK"}, nil
}
