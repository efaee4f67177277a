package telemetry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
)

// statusRecheck is how often the status is rebuilt without a health notice (room and endpoint
// counts change on config reloads, and the tracker's change channel may have other readers).
const statusRecheck = 30 * time.Second

// roomChunk bounds the room states in flight at once.
const roomChunk = 256

// stateLoop keeps the retained status and room states current and queues the periodic
// metrics. Everything it publishes is rebuilt from the store, so nothing is lost when the
// link is down: on every connect the status and every room are published again.
type stateLoop struct {
	t    *Telemetry
	link *link // the link the status and rooms were last published on

	statusDirty, statusForce bool
	lastStatusAt             time.Time
	lastStatus               []byte // content of the last status published (without updated_at)

	dirtyRooms   map[string]bool
	allRooms     bool // rebuild every room (connect, refresh)
	roomsForce   bool // publish without waiting for RoomMinInterval
	lastRoomsAt  time.Time
	roomKeys     map[string]roomDigest // digest of the content published per room (without timestamps)
	roomAt       map[string]time.Time  // when each room was last published
	retained     map[string]bool       // rooms with a retained state on the broker
	endpointRoom map[string]string     // endpoint name → room, to map endpoint notices
	migration    migrationState        // the retained migration topic (migration.go)
}

func (t *Telemetry) stateLoop(ctx context.Context) {
	s := &stateLoop{t: t, dirtyRooms: map[string]bool{}, roomKeys: map[string]roomDigest{}, roomAt: map[string]time.Time{},
		retained: map[string]bool{}, endpointRoom: map[string]string{}}
	if rooms, err := t.store.RetainedRooms(ctx); err != nil {
		t.log.Warn("read the rooms published before", "err", err)
	} else {
		for _, r := range rooms {
			s.retained[r] = true
		}
	}
	rooms := t.store.Subscribe(store.TopicRooms)
	defer rooms.Close()
	meetings := t.store.Subscribe(store.TopicMeetings)
	defer meetings.Close()
	endpoints := t.store.Subscribe(store.TopicEndpoints)
	defer endpoints.Close()

	tm := t.opts.Timing
	metricsEvery := time.Minute
	if t.opts.MQTT.MetricsInterval != nil && *t.opts.MQTT.MetricsInterval > 0 {
		metricsEvery = *t.opts.MQTT.MetricsInterval
	}
	metrics := t.clock.NewTimer(metricsEvery)
	defer metrics.Stop()
	refresh := t.clock.NewTimer(tm.RoomRefresh)
	defer refresh.Stop()
	recheck := t.clock.NewTimer(statusRecheck)
	defer recheck.Stop()
	var flush clock.Timer
	defer func() {
		if flush != nil {
			flush.Stop()
		}
	}()

	healthChanged, unsubscribe := t.health.Subscribe()
	defer unsubscribe()
	for {
		var flushC <-chan time.Time
		if flush != nil {
			flushC = flush.C()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.stateWake: // the link came up or went down: flush below sees which
		case <-rooms.C:
			s.markRooms(rooms.Take())
		case <-meetings.C:
			s.markRooms(meetings.Take())
		case <-endpoints.C:
			s.markEndpoints(ctx, endpoints.Take())
		case <-healthChanged:
			s.statusDirty = true
		case <-recheck.C():
			s.statusDirty = true
			recheck.Reset(statusRecheck)
		case <-refresh.C():
			s.allRooms = true
			refresh.Reset(tm.RoomRefresh)
		case <-metrics.C():
			if err := t.enqueueMetrics(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("queue metrics", "err", err)
			}
			metrics.Reset(metricsEvery)
		case <-flushC:
			flush = nil
		}
		if wait := s.flush(ctx); wait > 0 && flush == nil {
			flush = t.clock.NewTimer(wait)
		}
	}
}

func (s *stateLoop) markRooms(rooms []string) {
	for _, r := range rooms {
		if r != "" {
			s.dirtyRooms[r] = true
		}
	}
}

func (s *stateLoop) markEndpoints(ctx context.Context, names []string) {
	for _, n := range names {
		if room, ok := s.endpointRoom[n]; ok {
			s.dirtyRooms[room] = true // the room it was in (it may have moved or gone)
		}
		if e, ok, err := s.t.store.Endpoint(ctx, n); err == nil && ok {
			s.endpointRoom[n] = e.Room
			s.dirtyRooms[e.Room] = true
		}
	}
}

// flush publishes what is due and returns how long to wait before the next flush when
// something is held back by a rate limit.
func (s *stateLoop) flush(ctx context.Context) time.Duration {
	t := s.t
	if !t.Connected() || ctx.Err() != nil {
		return 0
	}
	if l := t.link.Load(); l != s.link {
		// A new connection: publish the status and every room again (the broker may have lost
		// its retained messages, and rooms may have changed while the link was down).
		s.link = l
		s.statusForce, s.allRooms, s.roomsForce = true, true, true
		clear(s.roomKeys)
		s.migration = migrationState{}
	}
	now := t.clock.Now()
	var wait time.Duration
	due := func(last time.Time, every time.Duration) bool {
		if d := last.Add(every).Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			return false
		}
		return true
	}
	if s.statusForce || (s.statusDirty && due(s.lastStatusAt, t.opts.Timing.StatusMinInterval)) {
		if err := s.publishStatus(ctx, now); err != nil {
			t.log.Debug("status not published", "err", err)
		}
	}
	if (s.allRooms || len(s.dirtyRooms) > 0) && (s.roomsForce || due(s.lastRoomsAt, t.opts.Timing.RoomMinInterval)) {
		if err := s.publishRooms(ctx, now); err != nil && ctx.Err() == nil {
			t.log.Debug("room states not all published", "err", err)
		}
	}
	next, err := s.publishMigration(ctx, now)
	if err != nil && ctx.Err() == nil {
		t.log.Debug("migration report not published", "err", err)
	}
	if next > 0 && (wait == 0 || next < wait) {
		wait = next
	}
	return wait
}

// publishStatus publishes the retained online status when it changed (or on connect).
func (s *stateLoop) publishStatus(ctx context.Context, now time.Time) error {
	st := s.t.onlineStatus(ctx)
	content, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if !s.statusForce && bytes.Equal(content, s.lastStatus) {
		s.statusDirty = false
		return nil
	}
	st.UpdatedAt = now.UTC()
	payload, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := s.t.publishNow(ctx, TopicStatus, true, payload); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	s.lastStatus, s.lastStatusAt = content, now
	s.statusDirty, s.statusForce = false, false
	return nil
}

// onlineStatus builds the status (UpdatedAt left zero, so contents compare).
func (t *Telemetry) onlineStatus(ctx context.Context) Status {
	rooms, endpoints := t.counts(ctx)
	st := Status{
		State: StateOnline, Site: t.opts.Site, Version: t.opts.Version, Host: hostname(), ClientID: t.ClientID(),
		StartedAt: t.opts.StartedAt.UTC(), Rooms: &rooms, Endpoints: &endpoints, Health: summarize(t.health.Snapshot()),
	}
	if t.opts.Sources != nil {
		// Never nil here: an online status says "no sources" as [], which tells it apart from
		// a status without the key (offline, or an agent from before sources).
		st.Sources = append([]StatusSource{}, t.opts.Sources()...)
	}
	if l := t.link.Load(); l != nil {
		c := l.since.UTC()
		st.ConnectedAt = &c
	}
	return st
}

// offlineStatus is the will (reason "connection lost") or the clean shutdown's status.
func (t *Telemetry) offlineStatus(reason string, stopped *time.Time) Status {
	st := Status{State: StateOffline, Site: t.opts.Site, Version: t.opts.Version, Host: hostname(), ClientID: t.ClientID(),
		StartedAt: t.opts.StartedAt.UTC(), Reason: reason}
	if stopped != nil {
		s := stopped.UTC()
		st.StoppedAt = &s
		st.UpdatedAt = s
	} else {
		st.UpdatedAt = t.opts.StartedAt.UTC()
	}
	return st
}

func (t *Telemetry) counts(ctx context.Context) (int, int) {
	if t.opts.Counts != nil {
		return t.opts.Counts()
	}
	rooms, err := t.store.Rooms(ctx)
	if err != nil {
		t.log.Debug("count rooms", "err", err)
	}
	eps, err := t.store.Endpoints(ctx)
	if err != nil {
		t.log.Debug("count endpoints", "err", err)
	}
	return len(rooms), len(eps)
}

func summarize(items []health.Item) *HealthSummary {
	h := &HealthSummary{Overall: health.OK, Problems: []Problem{}}
	for _, it := range items { // worst first
		if it.Level == health.OK {
			h.OK++
			continue
		}
		if h.ProblemsTotal == 0 {
			h.Overall = it.Level // the first problem is the worst
		}
		h.ProblemsTotal++
		if len(h.Problems) < MaxProblems {
			h.Problems = append(h.Problems, Problem{Component: it.Component, Level: it.Level, Message: it.Message, Since: it.Since.UTC()})
		}
	}
	return h
}

// publishRooms publishes the state of each dirty room whose content changed (or that was last
// published RoomRefresh ago), and clears the retained state of rooms that are gone.
func (s *stateLoop) publishRooms(ctx context.Context, now time.Time) error {
	t := s.t
	want := s.dirtyRooms
	s.dirtyRooms = map[string]bool{}
	all := s.allRooms
	force := s.roomsForce
	s.allRooms, s.roomsForce = false, false
	s.lastRoomsAt = now
	keep := func(err error) error { // on failure, try these rooms again on the next flush
		for r := range want {
			s.dirtyRooms[r] = true
		}
		s.allRooms = s.allRooms || all
		return err
	}
	var err error

	// Between full refreshes only the changed rooms are read: reading every room and endpoint
	// of a 1,000-room site every RoomMinInterval was a tenth of the agent's steady CPU.
	var rooms []store.RoomState
	var eps []store.EndpointState
	if all {
		rooms, err = t.store.Rooms(ctx)
		if err == nil {
			eps, err = t.store.Endpoints(ctx)
		}
	} else {
		names := make([]string, 0, len(want))
		for r := range want {
			names = append(names, r)
		}
		rooms, err = t.store.RoomsNamed(ctx, names)
		if err == nil {
			eps, err = t.store.EndpointsInRooms(ctx, names)
		}
	}
	if err != nil {
		return keep(err)
	}
	byRoom := map[string][]store.EndpointState{}
	for _, e := range eps {
		byRoom[e.Room] = append(byRoom[e.Room], e)
		s.endpointRoom[e.Name] = e.Room
	}
	exists := map[string]store.RoomState{}
	for _, r := range rooms {
		exists[r.Mailbox] = r
		if all {
			want[r.Mailbox] = true
		}
	}
	if all {
		for r := range s.retained {
			want[r] = true // cleared below if it no longer exists
		}
	}
	names := make([]string, 0, len(want))
	for r := range want {
		names = append(names, r)
	}
	sort.Strings(names)

	dayStart := startOfDay(now, t.opts.Location)
	dayEnd := dayStart.AddDate(0, 0, 1)
	type pending struct {
		room    string
		key     roomDigest
		payload []byte
	}
	var batch []pending
	for _, name := range names {
		rs, ok := exists[name]
		if !ok {
			if s.retained[name] {
				batch = append(batch, pending{room: name}) // empty retained payload: clear it
			}
			delete(s.roomKeys, name)
			continue
		}
		day, err := stored.RoomDay(ctx, t.store, name, dayStart, dayEnd, now)
		if err != nil {
			return keep(err)
		}
		state := buildRoomState(rs, day, byRoom[name], now)
		content, err := json.Marshal(roomContent(state))
		if err != nil {
			return keep(err)
		}
		key := digestRoom(content)
		if prev, ok := s.roomKeys[name]; !force && ok && key == prev && now.Sub(s.roomAt[name]) < t.opts.Timing.RoomRefresh {
			continue
		}
		payload, err := json.Marshal(state)
		if err != nil {
			return keep(err)
		}
		batch = append(batch, pending{room: name, key: key, payload: payload})
	}

	// Record a room as retained before its state is published (write-ahead): if the agent
	// stops between the broker's acknowledgement and this record, the next run still knows
	// to clear the room when it leaves the config. Clearing a topic that holds nothing is
	// harmless; forgetting a retained one would leave a stale room on the broker forever.
	retainedChanged := false
	for _, p := range batch {
		if p.payload != nil && !s.retained[p.room] {
			s.retained[p.room] = true
			retainedChanged = true
		}
	}
	if retainedChanged {
		s.saveRetained(ctx)
		retainedChanged = false
	}
	var firstErr error
	for len(batch) > 0 {
		n := min(len(batch), roomChunk)
		chunk := batch[:n]
		batch = batch[n:]
		l := t.link.Load()
		if l == nil || !l.up() {
			firstErr = errNotConnected
			for _, p := range chunk {
				s.dirtyRooms[p.room] = true
			}
			continue
		}
		tokens := make([]paho.Token, len(chunk))
		for i, p := range chunk {
			tokens[i] = l.cli.Publish(RoomTopic(t.opts.Site, p.room), 1, true, p.payload)
		}
		for i, p := range chunk {
			err := waitLink(ctx, l, tokens[i], t.opts.Timing.PublishTimeout)
			if err != nil {
				s.dirtyRooms[p.room] = true
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			t.stats.roomPublishes.Add(1)
			if p.payload == nil {
				delete(s.retained, p.room)
				delete(s.roomAt, p.room)
				retainedChanged = true
				continue
			}
			s.roomKeys[p.room], s.roomAt[p.room] = p.key, now
		}
	}
	if retainedChanged {
		s.saveRetained(ctx)
	}
	return firstErr
}

// roomDigest stands for a room's published content (roomContent's JSON). Only what the next
// publish compares is kept: at 1,000 rooms the documents themselves held ~3 MB for as long as
// the agent ran, the digests 32 KB.
type roomDigest [sha256.Size]byte

func digestRoom(content []byte) roomDigest { return sha256.Sum256(content) }

// saveRetained records which rooms have a retained state on the broker.
func (s *stateLoop) saveRetained(ctx context.Context) {
	list := make([]string, 0, len(s.retained))
	for r := range s.retained {
		list = append(list, r)
	}
	if err := s.t.store.SetRetainedRooms(context.WithoutCancel(ctx), list); err != nil {
		s.t.log.Warn("record published rooms", "err", err)
	}
}

func startOfDay(now time.Time, loc *time.Location) time.Time {
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

func buildRoomState(r store.RoomState, day stored.Day, eps []store.EndpointState, now time.Time) RoomState {
	st := RoomState{
		Room: r.Mailbox,
		Sync: RoomSync{
			Status: r.Status, Detail: r.StatusDetail, Integration: r.Integration,
			LastSuccess: timePtr(r.LastSuccess), LastAttempt: timePtr(r.LastAttempt),
		},
		MeetingsToday: day.Today,
		Current:       summarizeMeeting(day.Current),
		Next:          summarizeMeeting(day.Next),
		Endpoints:     []EndpointState{},
		Diagnosis:     []Finding{},
		UpdatedAt:     now.UTC(),
	}
	if !r.LastSuccess.IsZero() {
		age := int64(now.Sub(r.LastSuccess) / time.Second)
		st.Sync.DataAgeSeconds = &age
	}
	for _, e := range eps {
		st.Endpoints = append(st.Endpoints, EndpointState{
			Name: e.Name, Type: e.Type, State: e.State, Detail: e.Detail, Product: e.Product, Software: e.Software,
			LastContact: timePtr(e.LastContact), LastPush: timePtr(e.LastPush), LastPoll: timePtr(e.LastPoll),
		})
	}
	for _, f := range r.Diagnosis {
		st.Diagnosis = append(st.Diagnosis, Finding{Flag: f.Flag, Detail: f.Detail, Fix: f.Fix})
	}
	return st
}

// roomContent is a room state without the timestamps that move on every sync and poll: a
// room is republished when this changes, or after Timing.RoomRefresh.
func roomContent(st RoomState) RoomState {
	st.UpdatedAt = time.Time{}
	st.Sync.LastSuccess, st.Sync.LastAttempt, st.Sync.DataAgeSeconds = nil, nil, nil
	eps := make([]EndpointState, len(st.Endpoints))
	for i, e := range st.Endpoints {
		e.LastContact, e.LastPoll, e.LastPush = nil, nil, nil
		eps[i] = e
	}
	st.Endpoints = eps
	return st
}

func summarizeMeeting(m *calendar.Meeting) *MeetingSummary {
	if m == nil {
		return nil
	}
	return &MeetingSummary{Start: m.Start.UTC(), End: m.End.UTC(), Join: m.Join, Platform: m.Platform, Protocol: m.Protocol,
		Private: m.Private, Reason: m.Reason}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// enqueueMetrics queues one metrics message in the outbox.
func (t *Telemetry) enqueueMetrics(ctx context.Context) error {
	st, err := t.store.OutboxStats(ctx)
	if err != nil {
		return err
	}
	discarded, err := t.store.Counter(ctx, store.KeyOutboxDiscarded)
	if err != nil {
		return err
	}
	now := t.clock.Now()
	m := Metrics{
		ID: store.NewMessageID(), Time: now.UTC(), Site: t.opts.Site,
		UptimeSeconds: int64(now.Sub(t.opts.StartedAt) / time.Second),
		Outbox:        OutboxMetrics{Depth: st.Depth, Bytes: st.Bytes, Dropped: st.Dropped, Discarded: discarded},
		MQTT:          t.MQTTMetrics(),
		Agent:         t.agentMetrics(),
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return t.store.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(store.Message{ID: m.ID, Topic: TopicMetrics, Payload: payload})
		return err
	})
}

// MQTTMetrics are the link's counts now: those of every metrics message, and what the
// agent's Prometheus /metrics shows.
func (t *Telemetry) MQTTMetrics() MQTTMetrics {
	return MQTTMetrics{
		Connected: t.Connected(), Connects: t.stats.connects.Load(), Published: t.stats.published.Load(),
		PublishRetries: t.stats.retries.Load(), RoomPublishes: t.stats.roomPublishes.Load(),
		Commands: t.stats.commands.Load(), CommandsRejected: t.stats.rejected.Load(),
		CommandsTooLarge: t.stats.tooLarge.Load(), CommandsCoalesced: t.stats.coalesced.Load(),
		CommandsRateLimited: t.stats.rateLimited.Load(),
	}
}

// agentMetrics calls Options.Metrics; a panic there costs the agent's figures, not telemetry.
func (t *Telemetry) agentMetrics() (out map[string]any) {
	if t.opts.Metrics == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("metrics function panicked", "panic", r)
			out = nil
		}
	}()
	return t.opts.Metrics()
}
