package telemetry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TopicRoot is the first two levels of every topic: otj/v1/<site>/...
const TopicRoot = "otj/v1"

// Topic names below otj/v1/<site>/ (design.md, "MQTT topics").
const (
	TopicStatus    = "status"     // retained: Status
	TopicRooms     = "rooms"      // rooms/<room>, retained: RoomState
	TopicEvents    = "events"     // from the outbox: store.Event with id and time
	TopicMetrics   = "metrics"    // from the outbox: Metrics
	TopicCmd       = "cmd"        // cmd/<name>: commands in (Request)
	TopicCmdResult = "cmd-result" // Result
)

// SiteTopic is otj/v1/<site>/<sub>.
func SiteTopic(site, sub string) string { return TopicRoot + "/" + site + "/" + sub }

// RoomTopic is otj/v1/<site>/rooms/<room>. A mailbox may hold characters that mean something in
// MQTT topics ('+', '#', '/'); they are percent-encoded, as is '%' itself.
func RoomTopic(site, room string) string {
	return SiteTopic(site, TopicRooms+"/"+roomLevel.Replace(room))
}

var roomLevel = strings.NewReplacer("%", "%25", "+", "%2B", "#", "%23", "/", "%2F")

// States of Status.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// Status is the retained message on otj/v1/<site>/status. The broker publishes the offline
// form as the last will when the connection drops without a clean disconnect; the agent
// publishes it itself before a clean shutdown.
type Status struct {
	State       string     `json:"state"` // online or offline
	Site        string     `json:"site"`
	Version     string     `json:"version"`
	Host        string     `json:"host,omitempty"`
	ClientID    string     `json:"client_id"`
	StartedAt   time.Time  `json:"started_at"`
	ConnectedAt *time.Time `json:"connected_at,omitempty"` // online: this connection's start
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`   // offline after a clean shutdown
	Reason      string     `json:"reason,omitempty"`       // offline: "shutdown" or "connection lost" (the will)
	Rooms       *int       `json:"rooms,omitempty"`
	Endpoints   *int       `json:"endpoints,omitempty"`
	// Sources are the calendar sources the site reads. An online status always has the list;
	// an offline one, and the status of an agent from before sources, have none (nil).
	Sources   []StatusSource `json:"sources,omitzero"`
	Health    *HealthSummary `json:"health,omitempty"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// StatusSource is one calendar source in the status: what it is and how many rooms it serves.
// It holds nothing that changes by the minute (the request counts are in the metrics), so the
// retained status is republished only when the configuration changes.
type StatusSource struct {
	Type  string `json:"type"` // integrations[].type: graph
	Name  string `json:"name"` // integrations[].name
	Rooms int    `json:"rooms"`
}

// HealthSummary is the agent's health in the status: the worst level, how many components are
// fine, and the ones that are not (at most MaxProblems, worst first).
type HealthSummary struct {
	Overall       string    `json:"overall"` // ok, warning, error
	OK            int       `json:"ok"`
	Problems      []Problem `json:"problems"`
	ProblemsTotal int       `json:"problems_total"`
}

// Problem is one unhealthy component.
type Problem struct {
	Component string    `json:"component"`
	Level     string    `json:"level"`
	Message   string    `json:"message,omitempty"`
	Since     time.Time `json:"since"`
}

// MaxProblems bounds the problems listed in a status (a site with 1,000 codecs down still sends
// a small status; ProblemsTotal has the count).
const MaxProblems = 50

// RoomState is the retained message on otj/v1/<site>/rooms/<room>. Meeting subjects,
// organizers and dial strings are left out on purpose: the central broker sees that a room has
// a joinable meeting, not what it is about or its passcode.
type RoomState struct {
	Room          string          `json:"room"`
	Sync          RoomSync        `json:"sync"`
	MeetingsToday int             `json:"meetings_today"`
	Current       *MeetingSummary `json:"current_meeting,omitempty"`
	Next          *MeetingSummary `json:"next_meeting,omitempty"`
	Endpoints     []EndpointState `json:"endpoints"`
	Diagnosis     []Finding       `json:"diagnosis"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// RoomSync is a room's calendar sync state.
type RoomSync struct {
	Status      string     `json:"status"` // ok, pending, throttled, policy_denied, not_found, not_rest_enabled, auth_failed, transient
	Detail      string     `json:"detail,omitempty"`
	Integration string     `json:"integration,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	// DataAgeSeconds is how old the room's calendar data was when this state was published
	// (updated_at - last_success); absent before the first successful sync.
	DataAgeSeconds *int64 `json:"data_age_seconds,omitempty"`
}

// MeetingSummary is a meeting without its content.
type MeetingSummary struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Join     bool      `json:"join"`               // a Join button is shown
	Platform string    `json:"platform,omitempty"` // MicrosoftTeams, Zoom, Webex, GoogleMeet, Other
	Protocol string    `json:"protocol,omitempty"` // SIP, H323, WebRTC, Spark
	Private  bool      `json:"private,omitempty"`
	Reason   string    `json:"reason,omitempty"` // why there is no Join button
}

// EndpointState is an endpoint of the room as the room state shows it.
type EndpointState struct {
	Name        string     `json:"name"`
	Type        string     `json:"type"`  // cisco or poly
	State       string     `json:"state"` // up, down, auth_failed, cert_changed, unsupported, not_polling, degraded, unknown
	Detail      string     `json:"detail,omitempty"`
	Product     string     `json:"product,omitempty"`
	Software    string     `json:"software,omitempty"`
	LastContact *time.Time `json:"last_contact,omitempty"`
	LastPush    *time.Time `json:"last_push,omitempty"`
	LastPoll    *time.Time `json:"last_poll,omitempty"`
}

// Finding is a calendar-processing diagnosis flag with its fix.
type Finding struct {
	Flag   string `json:"flag"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// Metrics is a message on otj/v1/<site>/metrics. The figures the rest of the agent owns (the
// calendar sources' requests and budget under "sources", a list of SourceMetrics; pushes and
// their latency, endpoints up and down) come from Options.Metrics and sit beside these keys at
// the top level.
type Metrics struct {
	ID            string         `json:"id"`
	Time          time.Time      `json:"time"`
	Site          string         `json:"site"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Outbox        OutboxMetrics  `json:"outbox"`
	MQTT          MQTTMetrics    `json:"mqtt"`
	Agent         map[string]any `json:"-"` // merged at the top level
}

// OutboxMetrics describe the durable queue.
type OutboxMetrics struct {
	Depth     int64 `json:"depth"`     // messages waiting
	Bytes     int64 `json:"bytes"`     // their payload bytes
	Dropped   int64 `json:"dropped"`   // dropped over the caps (oldest first), since the store was created
	Discarded int64 `json:"discarded"` // given up after the broker refused them many times
}

// MQTTMetrics are this process's counts since it started.
type MQTTMetrics struct {
	Connected        bool  `json:"connected"`
	Connects         int64 `json:"connects"`
	Published        int64 `json:"published"`         // outbox messages acknowledged by the broker
	PublishRetries   int64 `json:"publish_retries"`   // outbox batches not (fully) acknowledged, sent again
	RoomPublishes    int64 `json:"room_publishes"`    // retained room states published
	Commands         int64 `json:"commands"`          // commands received
	CommandsRejected int64 `json:"commands_rejected"` // answered "busy" or dropped because the queue was full
	// CommandsTooLarge were refused unread: over MaxCommandBytes.
	CommandsTooLarge int64 `json:"commands_too_large"`
	// CommandsCoalesced were answered with the result of the same command accepted a moment before.
	CommandsCoalesced int64 `json:"commands_coalesced"`
	// CommandsRateLimited were refused by the site's sync and push rate limits.
	CommandsRateLimited int64 `json:"commands_rate_limited"`
}

// MarshalJSON puts the agent's figures beside the telemetry ones; telemetry's keys win.
func (m Metrics) MarshalJSON() ([]byte, error) {
	type plain Metrics
	own, err := json.Marshal(plain(m))
	if err != nil || len(m.Agent) == 0 {
		return own, err
	}
	merged := map[string]json.RawMessage{}
	for k, v := range m.Agent {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		merged[k] = b
	}
	var mine map[string]json.RawMessage
	if err := json.Unmarshal(own, &mine); err != nil {
		return nil, err
	}
	for k, v := range mine {
		merged[k] = v
	}
	return json.Marshal(merged)
}

// SourceMetrics is one calendar source in the "sources" list of a metrics message: its type and
// name, with the figures the source reports about itself beside them (for Graph: requests
// today, the budget and the projections, the poll intervals, rooms by status). A consumer finds
// every source's figures in one place whatever its type, and tells the types apart by "type".
type SourceMetrics struct {
	Type string `json:"type"` // integrations[].type: graph
	Name string `json:"name"` // integrations[].name
	// Stats is what the source reports: a struct or map that encodes as a JSON object. Its
	// keys follow type and name (a "type" or "name" of its own is left out).
	Stats any `json:"-"`
}

// MarshalJSON writes type and name first, then the source's figures in their own order.
func (s SourceMetrics) MarshalJSON() ([]byte, error) {
	type plain SourceMetrics
	own, err := json.Marshal(plain(s))
	if err != nil || s.Stats == nil {
		return own, err
	}
	stats, err := json.Marshal(s.Stats)
	if err != nil {
		return nil, fmt.Errorf("%s source %q: %w", s.Type, s.Name, err)
	}
	if string(stats) == "null" { // a nil pointer or map
		return own, nil
	}
	dec := json.NewDecoder(bytes.NewReader(stats))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s source %q: its figures are not a JSON object: %.40s", s.Type, s.Name, stats)
	}
	out := bytes.NewBuffer(own[:len(own)-1]) // without the closing brace
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if k := tok.(string); k != "type" && k != "name" {
			key, _ := json.Marshal(k)
			out.WriteByte(',')
			out.Write(key)
			out.WriteByte(':')
			out.Write(v)
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// Request is a command on otj/v1/<site>/cmd/<name>: a JSON object with the request's id and
// the command's arguments at the top level. Unknown keys are an error.
//
//	cmd/sync        {"id": "…", "room": "room-01@example.com", "full": true}   room empty: all rooms
//	cmd/push        {"id": "…", "endpoint": "codec-1"}                          endpoint empty: all
//	cmd/reload      {"id": "…"}
//	cmd/rules-test  {"id": "…", "event": {Graph event JSON}, "profile": "default"}
//	cmd/status      {"id": "…"}
type Request struct {
	ID       string          `json:"id"`
	Room     string          `json:"room,omitempty"`
	Full     bool            `json:"full,omitempty"`
	Endpoint string          `json:"endpoint,omitempty"`
	Event    json.RawMessage `json:"event,omitempty"`
	Profile  string          `json:"profile,omitempty"`
}

// Result answers a command on otj/v1/<site>/cmd-result. OK tells which of Result and Error is
// set. A request that could not be read at all is answered with the id it had, or "".
//
// A sync or push for the same room or endpoint as one accepted a moment before is not run
// again: it gets that request's result, with CoalescedWith naming it. One over the site's rate
// limit is answered with an error starting "rate limited:" and RetryAfter.
type Result struct {
	ID            string          `json:"id"`
	Command       string          `json:"command"`
	OK            bool            `json:"ok"`
	Result        json.RawMessage `json:"result,omitempty"`
	Error         string          `json:"error,omitempty"`
	CoalescedWith string          `json:"coalesced_with,omitempty"`
	RetryAfter    *time.Time      `json:"retry_after,omitempty"`
	Site          string          `json:"site"`
	Time          time.Time       `json:"time"`
}
