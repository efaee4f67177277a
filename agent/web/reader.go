package web

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// DefaultStaleAfter is when calendar data counts as stale: no successful sync for this long.
const DefaultStaleAfter = 30 * time.Minute

// Reader builds the API's documents from the store and the config at one moment. The server
// makes one per request; the CLI uses one on a read-only store when the agent is not running.
type Reader struct {
	Store *store.Store
	// Config may be nil: profiles, endpoint lists and app ids are then left out.
	Config *config.Config
	// Health may be nil (no running agent).
	Health *health.Tracker
	Now    time.Time
	// Location is the site's time zone: it decides what "today" is. Default time.Local.
	Location   *time.Location
	StaleAfter time.Duration // default DefaultStaleAfter
}

func (r *Reader) loc() *time.Location {
	if r.Location == nil {
		return time.Local
	}
	return r.Location
}

func (r *Reader) staleAfter() time.Duration {
	if r.StaleAfter <= 0 {
		return DefaultStaleAfter
	}
	return r.StaleAfter
}

// Today is the site's current day: [midnight, next midnight) in its time zone.
func (r *Reader) Today() (time.Time, time.Time) {
	n := r.Now.In(r.loc())
	start := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, r.loc())
	return start, start.AddDate(0, 0, 1)
}

// Rooms lists every room with its sync state, agenda and diagnosis.
func (r *Reader) Rooms(ctx context.Context) ([]Room, error) {
	states, err := r.Store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	dayStart, dayEnd := r.Today()
	agendas, err := stored.Agendas(ctx, r.Store, dayStart, dayEnd, r.Now)
	if err != nil {
		return nil, err
	}
	devices, err := r.devices(ctx)
	if err != nil {
		return nil, err
	}
	configured := r.configuredRooms()
	out := make([]Room, 0, len(states))
	for _, st := range states {
		out = append(out, r.room(st, configured[st.Mailbox], agendas[st.Mailbox], devices[st.Mailbox]))
	}
	return out, nil
}

// devices is every room's endpoints, keyed by room, in config order when there is a config.
func (r *Reader) devices(ctx context.Context) (map[string][]DeviceState, error) {
	eps, err := r.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]DeviceState{}
	for _, e := range eps {
		out[e.Room] = append(out[e.Room], DeviceState{Name: e.Name, Type: e.Type, State: e.State, Detail: e.Detail, Level: endpointLevel(e.State)})
	}
	return out, nil
}

func (r *Reader) configuredRooms() map[string]config.Room {
	out := map[string]config.Room{}
	if r.Config == nil {
		return out
	}
	for _, cr := range r.Config.Rooms() {
		out[cr.Mailbox] = cr
	}
	return out
}

func (r *Reader) room(st store.RoomState, cr config.Room, ag stored.Day, devices []DeviceState) Room {
	rm := Room{
		Mailbox:       st.Mailbox,
		Integration:   st.Integration,
		Profile:       cr.Profile,
		Endpoints:     cr.Endpoints,
		Status:        st.Status,
		Detail:        st.StatusDetail,
		LastAttempt:   st.LastAttempt,
		LastSuccess:   st.LastSuccess,
		LastFullSync:  st.LastFullSync,
		RetryAfter:    st.RetryAfter,
		MeetingsToday: ag.Today,
		Diagnosis:     st.Diagnosis,
		Devices:       devices,
	}
	if rm.Devices == nil {
		rm.Devices = []DeviceState{}
	}
	if rm.Endpoints == nil {
		rm.Endpoints = []string{}
	}
	if rm.Diagnosis == nil {
		rm.Diagnosis = []store.Finding{}
	}
	var clientID string
	if r.Config != nil {
		if in := r.Config.Integration(st.Integration); in != nil && in.Graph() != nil {
			clientID = in.Graph().ClientID
		}
	}
	rm.Advice, rm.AdviceCommand = roomAdvice(st.Status, st.StatusDetail, []string{st.Mailbox}, st.Integration, clientID)
	rm.Overall = roomOverall(st.Status, rm.Diagnosis, rm.Devices)
	if !st.LastSuccess.IsZero() {
		age := int64(r.Now.Sub(st.LastSuccess) / time.Second)
		rm.DataAgeSeconds = &age
	}
	rm.Stale = st.LastSuccess.IsZero() || r.Now.Sub(st.LastSuccess) > r.staleAfter()
	if ag.Current != nil {
		m := r.meeting(*ag.Current)
		rm.Current = &m
	}
	if ag.Next != nil {
		m := r.meeting(*ag.Next)
		rm.Next = &m
	}
	return rm
}

// Room is one room with today's and upcoming meetings, its endpoints and its recent events.
// The error wraps ErrNotFound when the room is not configured.
func (r *Reader) Room(ctx context.Context, mailbox string) (RoomDetail, error) {
	mailbox = strings.ToLower(strings.TrimSpace(mailbox))
	st, ok, err := r.Store.Room(ctx, mailbox)
	if err != nil {
		return RoomDetail{}, err
	}
	if !ok {
		return RoomDetail{}, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	dayStart, dayEnd := r.Today()
	agendas, err := stored.Agendas(ctx, r.Store, dayStart, dayEnd, r.Now)
	if err != nil {
		return RoomDetail{}, err
	}
	devices, err := r.devices(ctx)
	if err != nil {
		return RoomDetail{}, err
	}
	d := RoomDetail{Room: r.room(st, r.configuredRooms()[mailbox], agendas[mailbox], devices[mailbox])}
	meetings, err := stored.Meetings(ctx, r.Store, mailbox, dayStart, time.Time{})
	if err != nil {
		return RoomDetail{}, err
	}
	d.Today, d.Upcoming = []Meeting{}, []Meeting{}
	for _, m := range meetings {
		if m.Start.Before(dayEnd) {
			d.Today = append(d.Today, r.meeting(m))
		} else {
			d.Upcoming = append(d.Upcoming, r.meeting(m))
		}
	}
	eps, err := r.Endpoints(ctx)
	if err != nil {
		return RoomDetail{}, err
	}
	d.EndpointStates = []Endpoint{}
	for _, e := range eps {
		if e.Room == mailbox {
			d.EndpointStates = append(d.EndpointStates, e)
		}
	}
	d.Events, err = r.Events(ctx, store.EventFilter{Room: mailbox, Limit: 20})
	return d, err
}

// Meetings lists the meetings of one room (every room when room is "") overlapping [from, to);
// a zero to means no end.
func (r *Reader) Meetings(ctx context.Context, room string, from, to time.Time) ([]Meeting, error) {
	var ms []calendar.Meeting
	var err error
	if room == "" {
		ms, err = stored.AllMeetings(ctx, r.Store, from, to)
	} else {
		room = strings.ToLower(strings.TrimSpace(room))
		_, ok, rerr := r.Store.Room(ctx, room)
		if rerr != nil {
			return nil, rerr
		}
		if !ok {
			return nil, fmt.Errorf("room %s: %w", room, ErrNotFound)
		}
		ms, err = stored.Meetings(ctx, r.Store, room, from, to)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Meeting, 0, len(ms))
	for _, m := range ms {
		out = append(out, r.meeting(m))
	}
	return out, nil
}

func (r *Reader) meeting(m calendar.Meeting) Meeting {
	doc := Meeting{
		Room: m.Room, ID: m.ID, Start: m.Start, End: m.End, JoinFrom: m.JoinFrom(), JoinUntil: m.JoinUntil(),
		AllDay: m.AllDay, Subject: m.Subject, Organizer: m.Organizer, Private: m.Private, Tentative: m.Tentative,
		Join: m.Join, Number: m.Number, Protocol: m.Protocol, Platform: m.Platform, Rule: m.Rule, Reason: m.Reason,
	}
	switch {
	case !r.Now.Before(m.End):
		doc.State = MeetingEnded
	case !r.Now.Before(m.Start):
		doc.State = MeetingRunning
	case m.Join && !r.Now.Before(doc.JoinFrom):
		doc.State = MeetingJoinable
	default:
		doc.State = MeetingScheduled
	}
	return doc
}

// Endpoints lists every endpoint with its state and alarms.
func (r *Reader) Endpoints(ctx context.Context) ([]Endpoint, error) {
	states, err := r.Store.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	items := map[string]health.Item{}
	if r.Health != nil {
		for _, it := range r.Health.Snapshot() {
			items[it.Component] = it
		}
	}
	out := make([]Endpoint, 0, len(states))
	for _, e := range states {
		var item *health.Item
		if it, ok := items[e.Type+"/"+e.Name]; ok {
			item = &it
		}
		out = append(out, Endpoint{
			Name: e.Name, Type: e.Type, Room: e.Room, State: e.State, Detail: e.Detail,
			Product: e.Product, Software: e.Software,
			Fingerprint: fingerprint(e.CertSHA256), Presented: fingerprint(e.SeenSHA256),
			LastContact: e.LastContact, LastPush: e.LastPush, LastPoll: e.LastPoll,
			PollEverySeconds: e.PollEvery.Seconds(),
			Alarms:           endpointAlarms(e, item),
		})
	}
	return out, nil
}

// fingerprint writes a hex SHA-256 the way certificate viewers show it: AB:CD:…
func fingerprint(h string) string {
	h = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(h), ":", ""))
	if h == "" {
		return ""
	}
	if _, err := hex.DecodeString(h); err != nil || len(h)%2 != 0 {
		return h
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Events lists recent events matching f, newest first.
func (r *Reader) Events(ctx context.Context, f store.EventFilter) ([]Event, error) {
	logged, err := r.Store.EventLog(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(logged))
	for _, e := range logged {
		out = append(out, Event{Seq: e.Seq, At: e.At, Level: e.Level, Kind: e.Kind, Room: e.Room,
			Endpoint: e.Endpoint, Message: e.Message, Data: e.Data})
	}
	return out, nil
}

// DataAge sums up how old the rooms' calendar data is.
func (r *Reader) DataAge(rooms []Room) DataAge {
	return r.dataAge(len(rooms), func(i int) time.Time { return rooms[i].LastSuccess })
}

// StoredDataAge is DataAge counted by the store: the status API and the pages' header need
// only the rooms' last successes, not the rooms' agendas and devices.
func (r *Reader) StoredDataAge(ctx context.Context) (DataAge, error) {
	t, err := r.Store.Tally(ctx, r.Now.Add(-r.staleAfter()))
	if err != nil {
		return DataAge{}, err
	}
	return r.tallyAge(t), nil
}

// tallyAge is DataAge of the store's counts (a room is stale when its last success is more
// than staleAfter before now, as dataAge has it).
func (r *Reader) tallyAge(t store.Tally) DataAge {
	d := DataAge{Rooms: t.RoomCount, StaleAfterS: int64(r.staleAfter() / time.Second),
		Synced: t.Synced, StaleRooms: t.Stale, Newest: t.Newest}
	return r.ageText(d)
}

// dataAge sums up n rooms whose last successful syncs lastSuccess gives.
func (r *Reader) dataAge(n int, lastSuccess func(i int) time.Time) DataAge {
	d := DataAge{Rooms: n, StaleAfterS: int64(r.staleAfter() / time.Second)}
	for i := range n {
		last := lastSuccess(i)
		if last.IsZero() {
			continue // waiting for its first sync: no data to be stale
		}
		if r.Now.Sub(last) > r.staleAfter() {
			d.StaleRooms++
		}
		d.Synced++
		if last.After(d.Newest) {
			d.Newest = last
		}
	}
	return r.ageText(d)
}

// ageText says what the counts of d mean.
func (r *Reader) ageText(d DataAge) DataAge {
	switch {
	case d.Rooms == 0:
		d.Text = "no rooms configured"
	case d.Synced == 0:
		d.Stale = true
		d.Text = fmt.Sprintf("no calendar data yet: %s waiting for a first successful sync", plural(d.Rooms, "room"))
	default:
		age := max(r.Now.Sub(d.Newest), 0)
		secs := int64(age / time.Second)
		d.AgeSeconds = &secs
		d.Stale = age > r.staleAfter()
		d.Text = "calendar data " + HumanDuration(age) + " old"
	}
	return d
}

// Counts tallies rooms by status and endpoints by state.
func countBy[T any](items []T, key func(T) string) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[key(it)]++
	}
	return out
}

// HumanDuration says a duration the way a person would: "less than a minute", "1 minute",
// "17 minutes", "2 hours 5 minutes", "3 days".
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return plural(h, "hour")
		}
		return plural(h, "hour") + " " + plural(m, "minute")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
