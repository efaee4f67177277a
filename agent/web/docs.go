package web

import (
	"time"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// The JSON documents of /api/. The CLI decodes the same types, whether it read them from the
// running agent or built them from the store itself.

// Status is GET /api/status: the site overview.
type Status struct {
	Site      string    `json:"site"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Now       time.Time `json:"now"`
	Health    Health    `json:"health"`
	Calendar  DataAge   `json:"calendar"`
	// Rooms and Endpoints count rooms by sync status and endpoints by state.
	Rooms     map[string]int `json:"rooms"`
	Endpoints map[string]int `json:"endpoints"`
	// Sources are the calendar sources with their request budget use (older agents had
	// "graph" instead: the same figures without type, for the Graph integrations).
	Sources []SourceStats `json:"sources"`
	MQTT    MQTTStatus    `json:"mqtt"`
}

// Health is GET /api/health: every component, worst first.
type Health struct {
	Overall string        `json:"overall"`
	Items   []health.Item `json:"items"`
}

// DataAge says how old the calendar data is, from the rooms' last successful syncs. The agent
// keeps serving from its store when Microsoft 365 is unreachable; this is how the page says so.
type DataAge struct {
	Rooms  int `json:"rooms"`
	Synced int `json:"synced"` // rooms with at least one successful sync
	// Newest is the latest successful sync of any room: the last time Microsoft 365 answered.
	Newest time.Time `json:"newest_success,omitzero"`
	// AgeSeconds is now - Newest (absent before any room synced).
	AgeSeconds *int64 `json:"age_seconds,omitempty"`
	// StaleRooms synced once, but not within the stale limit (rooms still waiting for their
	// first sync are not counted: they have no data to be stale).
	StaleRooms  int   `json:"stale_rooms"`
	Stale       bool  `json:"stale"` // the newest data is older than the stale limit
	StaleAfterS int64 `json:"stale_after_seconds"`
	// Text says it in words: "calendar data 3 minutes old".
	Text string `json:"text"`
}

// MQTTStatus is the telemetry link and its durable outbox.
type MQTTStatus struct {
	MQTTState
	OutboxDepth   int64 `json:"outbox_depth"`
	OutboxBytes   int64 `json:"outbox_bytes"`
	OutboxDropped int64 `json:"outbox_dropped"`
}

// Room is one room in GET /api/rooms.
type Room struct {
	Mailbox     string   `json:"mailbox"`
	Integration string   `json:"integration,omitempty"`
	Profile     string   `json:"profile,omitempty"`
	Endpoints   []string `json:"endpoints"`
	// Status is the calendar sync status: ok, pending, throttled, policy_denied, not_found,
	// not_rest_enabled, auth_failed, transient.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Advice is what to do about a status other than ok, and AdviceCommand the command
	// (PowerShell or otj-edge) that checks or fixes it.
	Advice         string    `json:"advice,omitempty"`
	AdviceCommand  string    `json:"advice_command,omitempty"`
	LastAttempt    time.Time `json:"last_attempt,omitzero"`
	LastSuccess    time.Time `json:"last_success,omitzero"`
	LastFullSync   time.Time `json:"last_full_sync,omitzero"`
	RetryAfter     time.Time `json:"retry_after,omitzero"`
	DataAgeSeconds *int64    `json:"data_age_seconds,omitempty"`
	Stale          bool      `json:"stale"`
	MeetingsToday  int       `json:"meetings_today"`
	Current        *Meeting  `json:"current,omitempty"`
	Next           *Meeting  `json:"next,omitempty"`
	// Diagnosis lists the room mailbox's calendar-processing problems, each with the
	// PowerShell command that fixes it.
	Diagnosis []store.Finding `json:"diagnosis"`
	// Devices is the state of each of the room's endpoints, shown beside the calendar's.
	Devices []DeviceState `json:"devices"`
	// Overall is the room at a glance, the worse of its calendar sync, its mailbox settings
	// and its endpoints: ok, pending, warning or error.
	Overall string `json:"overall"`
}

// RoomDetail is GET /api/rooms/{room}: the room with its meetings, endpoints and events.
type RoomDetail struct {
	Room
	Today          []Meeting  `json:"today"`
	Upcoming       []Meeting  `json:"upcoming"`
	EndpointStates []Endpoint `json:"endpoint_states"`
	Events         []Event    `json:"events"`
}

// Meeting states relative to now.
const (
	MeetingEnded     = "ended"
	MeetingRunning   = "running"   // between start and end
	MeetingJoinable  = "joinable"  // within the start buffer: the Join button shows
	MeetingScheduled = "scheduled" // later
)

// Meeting is a resolved meeting as a room shows it.
type Meeting struct {
	Room      string    `json:"room"`
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	JoinFrom  time.Time `json:"join_from"`
	JoinUntil time.Time `json:"join_until"`
	AllDay    bool      `json:"all_day,omitempty"`
	Subject   string    `json:"subject"`
	Organizer string    `json:"organizer,omitempty"`
	Private   bool      `json:"private,omitempty"`
	Tentative bool      `json:"tentative,omitempty"`
	// Join says whether the room shows a Join button; Number is what it dials.
	Join     bool   `json:"join"`
	Number   string `json:"number,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Rule is the matched rule ("fallback" for a bare sip:/h323: address); Reason says why
	// there is no Join button, or notes something about the match.
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason,omitempty"`
	State  string `json:"state"` // ended, running, joinable, scheduled
}

// Endpoint is one endpoint in GET /api/endpoints.
type Endpoint struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Room     string `json:"room"`
	State    string `json:"state"`
	Detail   string `json:"detail,omitempty"`
	Product  string `json:"product,omitempty"`
	Software string `json:"software,omitempty"`
	// Fingerprint is the pinned certificate's SHA-256; Presented is a different one the
	// device showed and that was refused (state cert_changed).
	Fingerprint      string    `json:"fingerprint,omitempty"`
	Presented        string    `json:"presented_fingerprint,omitempty"`
	LastContact      time.Time `json:"last_contact,omitzero"`
	LastPush         time.Time `json:"last_push,omitzero"`
	LastPoll         time.Time `json:"last_poll,omitzero"`
	PollEverySeconds float64   `json:"poll_every_seconds,omitempty"`
	// Alarms are what needs an operator's attention, each with advice.
	Alarms []Alarm `json:"alarms"`
	// Retryable: the endpoint's driver can try a connection now (the page's "Try again now");
	// false for endpoints that fetch their calendar themselves (Poly). Page only.
	Retryable bool `json:"-"`
}

// Alarm is something about an endpoint that needs attention.
type Alarm struct {
	Level   string `json:"level"` // warning or error
	Message string `json:"message"`
	Advice  string `json:"advice,omitempty"`
	Command string `json:"command,omitempty"` // the command that fixes it, when there is one
}

// Event is an entry of the recent-events log (GET /api/events).
type Event struct {
	Seq      int64          `json:"seq"`
	At       time.Time      `json:"at"`
	Level    string         `json:"level"`
	Kind     string         `json:"kind"`
	Room     string         `json:"room,omitempty"`
	Endpoint string         `json:"endpoint,omitempty"`
	Message  string         `json:"message"`
	Data     map[string]any `json:"data,omitempty"`
}

// ActionResult answers POST /api/actions/{name}.
type ActionResult struct {
	OK     bool   `json:"ok"`
	Action string `json:"action"`
	// RequestedAt is the agent's clock when the action was accepted: a sync is done for a
	// room once its last_attempt is at or after it.
	RequestedAt time.Time `json:"requested_at"`
	Message     string    `json:"message,omitempty"`
	// Rules is the rules-test result.
	Rules *RulesResult `json:"rules,omitempty"`
	// Endpoints are the push and retry results, one per endpoint.
	Endpoints []EndpointResult `json:"endpoints,omitempty"`
}

// apiError is the body of every API error.
type apiError struct {
	Error string `json:"error"`
}
