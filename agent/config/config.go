// Package config reads and validates the otj-edge YAML configuration: one file with the site,
// its integrations (calendar sources), profiles (meeting processing settings and rules),
// endpoints (Cisco and Poly) and the MQTT broker. Decoding is strict: unknown keys, wrong types,
// duplicate names and dangling references are errors that carry the file and line, and every
// problem is reported at once.
package config

import (
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/sync/rules"
)

// Config is the whole configuration file.
type Config struct {
	// Site is the site id used in MQTT topics (otj/v1/<site>/...).
	Site string `yaml:"site"`
	// StateDir holds the SQLite store and generated certificates. Relative paths are relative
	// to the config file's directory.
	StateDir     string        `yaml:"state_dir"`
	Log          Log           `yaml:"log"`
	Status       Status        `yaml:"status"`
	EWS          EWS           `yaml:"ews"`
	Cisco        Cisco         `yaml:"cisco"`
	MQTT         MQTT          `yaml:"mqtt"`
	Report       Report        `yaml:"report"`
	Integrations []Integration `yaml:"integrations"`
	Profiles     []Profile     `yaml:"profiles"`
	Endpoints    []Endpoint    `yaml:"endpoints"`
	// Webex are the Webex API connections endpoints of type webex push through
	// (endpoint_webex.go).
	Webex []WebexConnection `yaml:"webex"`

	// File is the path the config was read from.
	File string `yaml:"-"`
	// Warnings are problems that do not stop the agent (e.g. a world-readable secret file).
	Warnings []Problem `yaml:"-"`
	Pos      Pos       `yaml:"-"`
}

// Log selects the log format and level.
type Log struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Pos    Pos    `yaml:"-"`
}

// Status is the local status page and JSON API.
type Status struct {
	// Listen is the address of the status page; default 127.0.0.1:8787. Empty string or "off"
	// disables it. A non-loopback address requires Username and Password.
	Listen       string `yaml:"listen"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	Pos          Pos    `yaml:"-"`
}

// EWS is the Exchange-compatible calendar service Poly endpoints poll.
type EWS struct {
	// Listen is the HTTPS address; default :8443. Used only when Poly endpoints exist.
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are a PEM certificate and key; empty: a self-signed certificate is
	// generated once and kept in the state dir.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// BodyTemplate renders the first lines of each served item's body (Go text/template over
	// the resolved meeting); empty uses the built-in one (the dial string on the first line).
	BodyTemplate string `yaml:"body_template"`
	// Capture logs unsupported requests (credentials redacted) to study a real device.
	Capture bool `yaml:"capture"`
	// NotPollingFactor: an endpoint silent for this many of its usual poll intervals raises the
	// "endpoint not polling" alarm; default 3.
	NotPollingFactor float64 `yaml:"not_polling_factor"`
	Pos              Pos     `yaml:"-"`
}

// cisco.connection values (device/cisco's connection models).
const (
	CiscoOnDemand   = "on_demand"
	CiscoPersistent = "persistent"
)

// Cisco holds the booking push settings for all Cisco endpoints.
type Cisco struct {
	// WindowPast is how far back pushed bookings reach; default 1h.
	WindowPast *time.Duration `yaml:"window_past"`
	// WindowDays is how many days after today the pushed window ends (1 = end of tomorrow).
	WindowDays *int `yaml:"window_days"`
	// SafetyInterval is the slow timer that re-pushes even without changes; default 30m.
	SafetyInterval *time.Duration `yaml:"safety_interval"`
	// Connection is how codecs are held: on_demand (default: connected for pushes, checks
	// and meetings, released when idle) or persistent (one connection per codec, always).
	Connection string `yaml:"connection"`
	// CheckInterval is on_demand's liveness check of each idle codec (a restarted codec gets
	// its bookings back within it, and always before a meeting's join window); default 5m.
	CheckInterval *time.Duration `yaml:"check_interval"`
	Pos           Pos            `yaml:"-"`
}

// MQTT is the central broker telemetry and commands go through.
type MQTT struct {
	// Broker is tcp://host:1883, ssl://host:8883 (also tls://, mqtts://); empty disables MQTT.
	Broker       string `yaml:"broker"`
	ClientID     string `yaml:"client_id"` // default: otj-edge-<site>-<box id>
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	// KeepAlive is the MQTT keep-alive; default 30s.
	KeepAlive *time.Duration `yaml:"keepalive"`
	// MetricsInterval is how often metrics are published; default 60s.
	MetricsInterval *time.Duration `yaml:"metrics_interval"`
	// OutboxMaxMessages and OutboxMaxBytes cap the durable outbox; the oldest messages are
	// dropped past either cap (defaults 100000 and 64 MiB).
	OutboxMaxMessages int   `yaml:"outbox_max_messages"`
	OutboxMaxBytes    int64 `yaml:"outbox_max_bytes"`
	Pos               Pos   `yaml:"-"`
}

// Enabled reports whether a broker is configured.
func (m MQTT) Enabled() bool { return strings.TrimSpace(m.Broker) != "" }

// Profile is an integration plus meeting processing settings and rules.
type Profile struct {
	Name           string `yaml:"name"`
	Integration    string `yaml:"integration"`
	rules.Settings `yaml:",inline"`
	Rules          []Rule `yaml:"rules"`
	Pos            Pos    `yaml:"-"`
}

// RuleSpecs returns the profile's rules as package rules takes them.
func (p *Profile) RuleSpecs() []rules.Spec {
	out := make([]rules.Spec, len(p.Rules))
	for i, r := range p.Rules {
		out[i] = r.Spec
	}
	return out
}

// Compile compiles the profile's settings and rules for the meeting processor (Load has
// validated them, so an error here is a bug or a hand-built Config).
func (p *Profile) Compile() (*rules.Profile, error) {
	return rules.Compile(p.Settings, p.RuleSpecs())
}

// Rule is a meeting processing rule with its position in the file.
type Rule struct {
	rules.Spec `yaml:",inline"`
	Pos        Pos `yaml:"-"`
}

// Endpoint types (registered with their keys and checks in endpoint_<type>.go).
const (
	EndpointCisco = "cisco"
	EndpointPoly  = "poly"
	EndpointWebex = "webex"
)

// Endpoint is a video endpoint in a room.
type Endpoint struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`    // a registered endpoint type: cisco, poly
	Room    string `yaml:"room"`    // room mailbox (SMTP address)
	Profile string `yaml:"profile"` // default: the only profile, when there is one
	// Integration reads this endpoint's room through another integration than its profile's
	// (every endpoint of the room names the same one): moving a room between calendar sources
	// is this one line, and the profile's settings and rules stay shared, never copied.
	Integration string `yaml:"integration"`
	// Address is the device's API address: host, host:port or a wss:// / https:// URL.
	// Required for Cisco; for Poly it enables REST health checks.
	Address string `yaml:"address"`
	// Username and Password log us in to the device's API (Cisco: an Admin-role user).
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// CAFile verifies the device certificate against a CA instead of pinning it on first use.
	CAFile string `yaml:"ca_file"`
	// Fingerprint pins the device certificate's SHA-256 up front (hex, colons allowed).
	Fingerprint string `yaml:"fingerprint"`
	// CalendarUsername and CalendarPassword are what a Poly endpoint uses to log in to our
	// calendar service; bound to this endpoint's room only.
	CalendarUsername     string `yaml:"calendar_username"`
	CalendarPassword     Secret `yaml:"calendar_password"`
	CalendarPasswordFile string `yaml:"calendar_password_file"`
	// Webex endpoints: the connection (webex: name) and the device, by exactly one of its
	// id, its workspace (id or display name) or its display name.
	Webex      string `yaml:"webex"`
	DeviceID   string `yaml:"device_id"`
	Workspace  string `yaml:"workspace"`
	DeviceName string `yaml:"device_name"`
	Pos        Pos    `yaml:"-"`
}

// Room is a room mailbox the site syncs, with the profile its endpoints use.
type Room struct {
	Mailbox     string   // lower case
	Profile     string   // profile name
	Integration string   // integration name: its endpoints' integration, else its profile's
	Endpoints   []string // endpoint names, sorted
}

// Rooms lists every room named by an endpoint, sorted by mailbox.
func (c *Config) Rooms() []Room {
	byMailbox := map[string]*Room{}
	for _, e := range c.Endpoints {
		r := byMailbox[e.Room]
		if r == nil {
			r = &Room{Mailbox: e.Room, Profile: e.Profile}
			if p := c.Profile(e.Profile); p != nil {
				r.Integration = p.Integration
			}
			byMailbox[e.Room] = r
		}
		if e.Integration != "" { // validation makes a room's endpoints agree
			r.Integration = e.Integration
		}
		r.Endpoints = append(r.Endpoints, e.Name)
	}
	out := make([]Room, 0, len(byMailbox))
	for _, r := range byMailbox {
		sort.Strings(r.Endpoints)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out
}

// Profile returns the named profile, or nil.
func (c *Config) Profile(name string) *Profile {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i]
		}
	}
	return nil
}

// Integration returns the named integration, or nil.
func (c *Config) Integration(name string) *Integration {
	for i := range c.Integrations {
		if c.Integrations[i].Name == name {
			return &c.Integrations[i]
		}
	}
	return nil
}

// Endpoint returns the named endpoint, or nil.
func (c *Config) Endpoint(name string) *Endpoint {
	for i := range c.Endpoints {
		if c.Endpoints[i].Name == name {
			return &c.Endpoints[i]
		}
	}
	return nil
}

// DBPath is the SQLite store's path.
func (c *Config) DBPath() string { return filepath.Join(c.StateDir, "otj-edge.db") }

// HasPoly reports whether any Poly endpoint is configured (the EWS service runs only then).
func (c *Config) HasPoly() bool {
	for _, e := range c.Endpoints {
		if e.Type == EndpointPoly {
			return true
		}
	}
	return false
}

// DefaultPath is where the service looks for its config.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "otj-edge", "config.yaml")
	}
	return "/etc/otj-edge/config.yaml"
}

// DefaultStateDir is where state lives when the config does not say.
func DefaultStateDir() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "otj-edge")
	}
	return "/var/lib/otj-edge"
}
