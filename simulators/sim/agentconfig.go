package sim

import (
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// AgentConfig is the otj-edge.yaml otj-sim writes: the agent's config schema (agent/config),
// spelled out here so the simulators never import production code.
type AgentConfig struct {
	Site         string             `yaml:"site"`
	StateDir     string             `yaml:"state_dir"`
	Log          map[string]string  `yaml:"log"`
	Status       map[string]string  `yaml:"status"`
	EWS          AgentEWS           `yaml:"ews"`
	MQTT         *AgentMQTT         `yaml:"mqtt,omitempty"`
	Integrations []AgentIntegration `yaml:"integrations"`
	Profiles     []AgentProfile     `yaml:"profiles"`
	Endpoints    []AgentEndpoint    `yaml:"endpoints"`
	Extra        map[string]any     `yaml:",inline"`
}

// AgentEWS is the agent's EWS section.
type AgentEWS struct {
	Listen   string `yaml:"listen"`
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// AgentMQTT is the agent's MQTT section.
type AgentMQTT struct {
	Broker string `yaml:"broker"`
}

// AgentIntegration is a Graph, EWS or Google integration (the other types' keys stay empty).
type AgentIntegration struct {
	Name              string `yaml:"name"`
	Type              string `yaml:"type"`
	ClientID          string `yaml:"client_id,omitempty"`
	ClientSecret      string `yaml:"client_secret,omitempty"`
	TokenURL          string `yaml:"token_url,omitempty"`
	GraphURL          string `yaml:"graph_url,omitempty"`
	MaxRequestsPerDay int    `yaml:"max_requests_per_day,omitempty"`
	CAFile            string `yaml:"ca_file,omitempty"`
	// Graph change notifications (otj-sim --notify).
	NotificationsURL    string `yaml:"notifications_url,omitempty"`
	NotificationsListen string `yaml:"notifications_listen,omitempty"`
	// EWS (type ews): the keys of agent/config's ews integration.
	URL                  string `yaml:"url,omitempty"`
	AutodiscoverURL      string `yaml:"autodiscover_url,omitempty"`
	Username             string `yaml:"username,omitempty"`
	Password             string `yaml:"password,omitempty"`
	Auth                 string `yaml:"auth,omitempty"`
	Access               string `yaml:"access,omitempty"`
	Streaming            *bool  `yaml:"streaming,omitempty"`
	RequestServerVersion string `yaml:"request_server_version,omitempty"`
	// Google (type google): the keys of agent/config's google integration.
	ServiceAccountKeyFile string `yaml:"service_account_key_file,omitempty"`
	Subject               string `yaml:"subject,omitempty"`
	Endpoint              string `yaml:"endpoint,omitempty"`
}

// AgentProfile is a profile with its rules.
type AgentProfile struct {
	Name        string         `yaml:"name"`
	Integration string         `yaml:"integration"`
	Settings    map[string]any `yaml:",inline"`
	Rules       []AgentRule    `yaml:"rules"`
}

// AgentRule is one rule.
type AgentRule struct {
	Name       string `yaml:"name"`
	Type       string `yaml:"type"`
	Priority   int    `yaml:"priority"`
	Domain     string `yaml:"domain,omitempty"`
	IncludePIN bool   `yaml:"include_pin,omitempty"`
	Match      string `yaml:"match,omitempty"`
	Replace    string `yaml:"replace,omitempty"`
}

// AgentEndpoint is a Cisco or Poly endpoint.
type AgentEndpoint struct {
	Name             string `yaml:"name"`
	Type             string `yaml:"type"`
	Room             string `yaml:"room"`
	Profile          string `yaml:"profile"`
	Address          string `yaml:"address,omitempty"`
	Username         string `yaml:"username,omitempty"`
	Password         string `yaml:"password,omitempty"`
	CalendarUsername string `yaml:"calendar_username,omitempty"`
	CalendarPassword string `yaml:"calendar_password,omitempty"`
	Webex            string `yaml:"webex,omitempty"`     // type webex: the connection's name
	DeviceID         string `yaml:"device_id,omitempty"` // type webex: the Webex device id
}

// DemoProfile is the profile name the generated config uses.
const DemoProfile = "default"

func newAgentConfig(dir, statusAddr, ewsAddr string) *AgentConfig {
	return &AgentConfig{
		Site:     "sim",
		StateDir: filepath.Join(dir, "state"),
		Log:      map[string]string{"format": "text", "level": "info"},
		Status:   map[string]string{"listen": statusAddr},
		EWS:      AgentEWS{Listen: ewsAddr},
		Profiles: []AgentProfile{{
			Name:     DemoProfile,
			Settings: map[string]any{"start_buffer": "5m", "replace_subject": "private", "non_video_meetings": "show"},
			Rules: []AgentRule{
				{Name: "teams", Type: "teams", Priority: 10},
				{Name: "zoom", Type: "zoom", Priority: 20, IncludePIN: true},
				{Name: "webex", Type: "webex", Priority: 30},
				{Name: "google-meet", Type: "google_meet", Priority: 40},
				{Name: "pexip", Type: "pexip", Priority: 50},
			},
		}},
		Endpoints: []AgentEndpoint{},
	}
}

// YAML renders the config with a header saying where it came from.
func (c *AgentConfig) YAML() []byte {
	b, err := yaml.Marshal(c)
	if err != nil {
		panic(err) // plain data always marshals
	}
	header := "# Generated by otj-sim: an otj-edge config pointing at the simulators on loopback.\n" +
		"# Run the agent on it with: otj-edge run --config " + "<this file>\n"
	return append([]byte(header), b...)
}
