package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/agent/report"
	"github.com/otj-edge/otj-edge/agent/telemetry"
	"github.com/otj-edge/otj-edge/store"
)

// A simulated site of the fleet scenario: what one otj-edge puts on the central broker, with the
// payload types the agent publishes (telemetry.Status, telemetry.RoomState, store.Event in its
// outbox envelope, telemetry.Metrics, report.Report) so the sizes are real, at the agent's
// rates (fleetRates). One MQTT connection per site, as in production: the broker's cost per
// connection (socket, session, will, keepalive, the command subscription) is part of what is
// measured, and a last will belongs to one connection.

// fleetRates are a site's publishing rates, from the agent's defaults.
type fleetRates struct {
	roomRefresh   time.Duration // every room's state again (telemetry RoomRefresh: 5 min)
	metrics       time.Duration // mqtt.metrics_interval (60 s)
	eventsPerHour float64       // per room: meetings started/joined, pushes, endpoint changes
	healthChange  time.Duration // mean time between health changes of a site (status + events + a room)
	statusMin     time.Duration // StatusMinInterval (5 s): at most one status per site this often
}

// fleetTruth is what the load generator published, the ground truth the view is checked against.
type fleetTruth struct {
	online bool
	reason string // of the last offline status
	rooms  int    // retained room states published (and not cleared)
	events int64  // events the broker acknowledged
}

// statusChange is one status a site published (or the broker published for it, the will),
// waiting for the view to show it.
type statusChange struct {
	site   string
	kind   string    // connect, health, will, shutdown
	marker time.Time // the status's updated_at: how the view's copy is recognised
	at     time.Time // published (for the will: the moment the connection was cut)
}

type simSite struct {
	name     string
	broker   string
	rooms    []string
	rates    fleetRates
	started  time.Time
	clientID string
	rng      *rand.Rand

	client  paho.Client
	willAt  time.Time // the updated_at of this link's will: how the view's copy of it is recognised
	conn    net.Conn  // the raw connection, to cut it without a DISCONNECT (the will fires)
	connMu  sync.Mutex
	problem bool // a codec is down
	truth   fleetTruth
	counts  *fleetCounts
	changes chan<- statusChange
}

// fleetCounts are the generator's publish counts (every site adds to them).
type fleetCounts struct {
	messages, bytes, failures atomic.Int64
	byTopic                   [6]atomic.Int64 // status, rooms, events, metrics, report, migration
}

const (
	tStatus = iota
	tRooms
	tEvents
	tMetrics
	tReport
	tMigration
)

var topicNames = [...]string{"status", "rooms", "events", "metrics", "report", "migration"}

func newSimSite(name, broker string, rooms int, rates fleetRates, seed uint64, counts *fleetCounts, changes chan<- statusChange) *simSite {
	s := &simSite{name: name, broker: broker, rates: rates, started: time.Now(), counts: counts, changes: changes,
		clientID: "otj-edge-" + name + "-" + fmt.Sprintf("%012x", seed), rng: rand.New(rand.NewPCG(seed, 22))}
	for i := range rooms {
		s.rooms = append(s.rooms, fmt.Sprintf("room-%02d@%s.example.com", i+1, name))
	}
	return s
}

func (s *simSite) topic(sub string) string { return telemetry.SiteTopic(s.name, sub) }

// connect opens a fresh connection as the agent does (clean session off, the offline will,
// the command subscription), then publishes what every new link publishes: the status, every
// room's state, the daily report and the cleared migration topic.
func (s *simSite) connect(ctx context.Context) error {
	now := time.Now()
	will, err := json.Marshal(s.offline("connection lost", nil, now))
	if err != nil {
		return err
	}
	s.willAt = now
	o := paho.NewClientOptions().AddBroker(s.broker).SetClientID(s.clientID).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(false).
		SetKeepAlive(30*time.Second).SetPingTimeout(10*time.Second).SetWriteTimeout(30*time.Second).
		SetBinaryWill(s.topic(telemetry.TopicStatus), will, 1, true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, 30*time.Second)
			s.connMu.Lock()
			s.conn = c
			s.connMu.Unlock()
			return c, err
		})
	c := paho.NewClient(o)
	if err := wait(ctx, c.Connect()); err != nil {
		return fmt.Errorf("%s: connect: %w", s.name, err)
	}
	s.client = c
	if err := wait(ctx, c.Subscribe(s.topic(telemetry.TopicCmd+"/#"), 1, nil)); err != nil {
		return fmt.Errorf("%s: subscribe to its commands: %w", s.name, err)
	}
	s.truth.online = true
	if err := s.publishStatus(ctx, "connect", now); err != nil {
		return err
	}
	for i := range s.rooms {
		if err := s.publishRoom(ctx, i, time.Now()); err != nil {
			return err
		}
	}
	rep, err := json.Marshal(s.report(now))
	if err != nil {
		return err
	}
	if err := s.publish(ctx, tReport, telemetry.TopicReport, true, rep); err != nil {
		return err
	}
	return s.publish(ctx, tMigration, telemetry.TopicMigration, true, nil)
}

// cut drops the connection the way a power cut or kill -9 does: no DISCONNECT, so the broker
// publishes the will.
func (s *simSite) cut() statusChange {
	s.connMu.Lock()
	c := s.conn
	s.connMu.Unlock()
	at := time.Now()
	if c != nil {
		_ = c.Close()
	}
	s.client.Disconnect(0) // frees the client; the socket is gone already
	s.truth.online, s.truth.reason = false, "connection lost"
	return statusChange{site: s.name, kind: "will", marker: s.willAt, at: at}
}

// shutdown is a clean stop: the offline status, then DISCONNECT (no will).
func (s *simSite) shutdown(ctx context.Context) error {
	now := time.Now()
	b, err := json.Marshal(s.offline("shutdown", &now, now))
	if err != nil {
		return err
	}
	if err := s.publish(ctx, tStatus, telemetry.TopicStatus, true, b); err != nil {
		return err
	}
	s.client.Disconnect(250)
	s.truth.online, s.truth.reason = false, "shutdown"
	s.changes <- statusChange{site: s.name, kind: "shutdown", marker: now, at: now}
	return nil
}

// healthFlip toggles a codec down or up: the status, the events and that room's state change.
func (s *simSite) healthFlip(ctx context.Context) error {
	s.problem = !s.problem
	now := time.Now()
	if err := s.publishStatus(ctx, "health", now); err != nil {
		return err
	}
	ev := store.Event{Kind: "endpoint.up", Level: "info", Room: s.rooms[0], Endpoint: s.codec(0),
		Message: s.codec(0) + ": reachable again"}
	if s.problem {
		ev = store.Event{Kind: "endpoint.down", Level: "error", Room: s.rooms[0], Endpoint: s.codec(0),
			Message: s.codec(0) + ": wrong username or password", Data: map[string]any{"attempts": 1}}
	}
	if err := s.publishEvent(ctx, ev, now); err != nil {
		return err
	}
	return s.publishRoom(ctx, 0, now)
}

func (s *simSite) codec(i int) string { return fmt.Sprintf("%s-codec-%02d", s.name, i+1) }

func (s *simSite) publishStatus(ctx context.Context, kind string, now time.Time) error {
	b, err := json.Marshal(s.online(now))
	if err != nil {
		return err
	}
	if err := s.publish(ctx, tStatus, telemetry.TopicStatus, true, b); err != nil {
		return err
	}
	s.changes <- statusChange{site: s.name, kind: kind, marker: now, at: now}
	return nil
}

func (s *simSite) publishRoom(ctx context.Context, i int, now time.Time) error {
	b, err := json.Marshal(s.room(i, now))
	if err != nil {
		return err
	}
	if err := s.publishTo(ctx, tRooms, telemetry.RoomTopic(s.name, s.rooms[i]), true, b); err != nil {
		return err
	}
	s.truth.rooms = len(s.rooms) // every room has been published at least once on each link
	return nil
}

// meetingEvents are the everyday events of a room (the outbox's kinds), picked at random.
var meetingEvents = []store.Event{
	{Kind: "meeting.started", Level: "info", Message: "meeting started"},
	{Kind: "meeting.joined", Level: "info", Message: "joined from the room"},
	{Kind: "push.ok", Level: "info", Message: "bookings pushed", Data: map[string]any{"bookings": 6}},
	{Kind: "sync.error", Level: "warn", Message: "Graph answered 429: throttled; retrying in 30s"},
}

func (s *simSite) publishEvent(ctx context.Context, e store.Event, now time.Time) error {
	b, err := json.Marshal(struct {
		ID   string `json:"id"`
		Time string `json:"time"`
		store.Event
	}{store.NewMessageID(), now.UTC().Format(time.RFC3339Nano), e})
	if err != nil {
		return err
	}
	if err := s.publish(ctx, tEvents, telemetry.TopicEvents, false, b); err != nil {
		return err
	}
	s.truth.events++ // acknowledged by the broker
	return nil
}

func (s *simSite) randomEvent(ctx context.Context) error {
	i := s.rng.IntN(len(s.rooms))
	e := meetingEvents[s.rng.IntN(len(meetingEvents))]
	e.Room = s.rooms[i]
	if e.Kind == "push.ok" {
		e.Endpoint = s.codec(i)
	}
	return s.publishEvent(ctx, e, time.Now())
}

func (s *simSite) publishMetrics(ctx context.Context) error {
	b, err := json.Marshal(s.metrics(time.Now()))
	if err != nil {
		return err
	}
	return s.publish(ctx, tMetrics, telemetry.TopicMetrics, false, b)
}

func (s *simSite) publish(ctx context.Context, kind int, sub string, retained bool, payload []byte) error {
	return s.publishTo(ctx, kind, s.topic(sub), retained, payload)
}

func (s *simSite) publishTo(ctx context.Context, kind int, topic string, retained bool, payload []byte) error {
	if err := wait(ctx, s.client.Publish(topic, 1, retained, payload)); err != nil {
		s.counts.failures.Add(1)
		return fmt.Errorf("%s: publish %s: %w", s.name, topic, err)
	}
	s.counts.messages.Add(1)
	s.counts.bytes.Add(int64(len(payload)))
	s.counts.byTopic[kind].Add(1)
	return nil
}

// wait waits for a token (QoS 1: the broker's PUBACK), at most 30 s.
func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("no answer from the broker in 30s")
	}
}

// The payloads, with the agent's types.

func (s *simSite) online(now time.Time) telemetry.Status {
	rooms, eps := len(s.rooms), len(s.rooms)
	h := &telemetry.HealthSummary{Overall: "ok", OK: eps + 2, Problems: []telemetry.Problem{}}
	if s.problem {
		h = &telemetry.HealthSummary{Overall: "error", OK: eps + 1, ProblemsTotal: 1, Problems: []telemetry.Problem{
			{Component: "cisco/" + s.codec(0), Level: "error", Message: "wrong username or password", Since: now}}}
	}
	return telemetry.Status{State: telemetry.StateOnline, Site: s.name, Version: "1.4.0", Host: "otj-" + s.name,
		ClientID: s.clientID, StartedAt: s.started, ConnectedAt: &now, Rooms: &rooms, Endpoints: &eps,
		Sources: []telemetry.StatusSource{{Type: "graph", Name: "m365", Rooms: rooms}}, Health: h, UpdatedAt: now}
}

func (s *simSite) offline(reason string, stopped *time.Time, now time.Time) telemetry.Status {
	return telemetry.Status{State: telemetry.StateOffline, Site: s.name, Version: "1.4.0", Host: "otj-" + s.name,
		ClientID: s.clientID, StartedAt: s.started, StoppedAt: stopped, Reason: reason, UpdatedAt: now}
}

func (s *simSite) room(i int, now time.Time) telemetry.RoomState {
	last := now.Add(-time.Duration(s.rng.IntN(300)) * time.Second)
	age := int64(now.Sub(last) / time.Second)
	start := now.Truncate(time.Hour)
	ep := telemetry.EndpointState{Name: s.codec(i), Type: "cisco", State: "up", Product: "Cisco Room Kit Pro",
		Software: "ce11.14.1", LastContact: &now, LastPush: &last}
	if i == 0 && s.problem {
		ep.State, ep.Detail = "auth_failed", "wrong username or password"
	}
	return telemetry.RoomState{Room: s.rooms[i],
		Sync:          telemetry.RoomSync{Status: "ok", Integration: "m365", LastSuccess: &last, LastAttempt: &last, DataAgeSeconds: &age},
		MeetingsToday: 6,
		Current:       &telemetry.MeetingSummary{Start: start, End: start.Add(time.Hour), Join: true, Platform: "MicrosoftTeams", Protocol: "SIP"},
		Next:          &telemetry.MeetingSummary{Start: start.Add(90 * time.Minute), End: start.Add(2 * time.Hour), Private: true, Reason: "no video address in the invite"},
		Endpoints:     []telemetry.EndpointState{ep}, Diagnosis: []telemetry.Finding{}, UpdatedAt: now}
}

func (s *simSite) metrics(now time.Time) telemetry.Metrics {
	n := len(s.rooms)
	return telemetry.Metrics{ID: store.NewMessageID(), Time: now, Site: s.name, UptimeSeconds: int64(now.Sub(s.started) / time.Second),
		MQTT: telemetry.MQTTMetrics{Connected: true, Connects: 1, Published: s.counts.messages.Load() % 100000, RoomPublishes: int64(n)},
		Agent: map[string]any{
			"sources": []telemetry.SourceMetrics{{Type: "graph", Name: "m365", Stats: map[string]any{
				"integration": "m365", "budget": 1000000, "used_today": 18211, "projected_today": 60000, "projected_24h": 99000,
				"hot_interval": 30000000000, "cold_interval": 300000000000, "rooms": map[string]int{"ok": n}, "hot_rooms": 2,
				"synced": n, "budget_exhausted": false}}},
			"cisco": map[string]any{"codecs": n, "connected": n, "states": map[string]int{"up": n}, "pushes": 311,
				"push_failures": 2, "unchanged": 57, "latency_p50": 180000000, "latency_p95": 420000000, "latency_max": 1900000000},
			"processor_passes": 96,
		}}
}

func (s *simSite) report(now time.Time) report.Report {
	day := now.AddDate(0, 0, -1)
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	return report.Report{ID: store.NewMessageID(), Site: s.name, Day: from.Format("2006-01-02"), From: from, To: from.AddDate(0, 0, 1),
		GeneratedAt: now, Rooms: report.Rooms{Total: len(s.rooms), Synced: len(s.rooms), Failing: []report.FailingRoom{}},
		Cisco:        report.Cisco{Endpoints: len(s.rooms), Pushes: 120, EndpointsOK: len(s.rooms), Problems: []report.EndpointLine{}},
		Poly:         report.Poly{Problems: []report.EndpointLine{}},
		Integrations: []report.Integration{{Name: "m365", Type: "graph", Requests: 99000, Budget: 1000000, Percent: 9.9}},
		Meetings:     report.Meetings{Joined: 6 * len(s.rooms), NotJoined: []report.NotJoined{}},
		Coverage:     report.Coverage{Complete: true}}
}
