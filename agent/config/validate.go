package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/sync/rules"
)

var (
	siteRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// validate applies defaults and checks everything decode could not: required fields, ranges,
// names, references between sections, secrets and files.
func (l *loader) validate(c *Config) {
	l.site(c)
	l.logSection(c)
	l.statusSection(c)
	l.ewsSection(c)
	l.ciscoSection(c)
	l.mqttSection(c)
	l.reportSection(c)
	integrations := l.integrations(c)
	profiles := l.profiles(c, integrations)
	l.endpoints(c, profiles)
	l.roomIntegrations(c, integrations) // rooms.go
	l.shadows(c)                        // shadow.go
	l.webexSection(c)
}

func (l *loader) site(c *Config) {
	switch {
	case c.Site == "":
		l.errorf(c.Pos.Line(""), "site is required (a short id such as oslo-hq; it names this site in MQTT topics)")
	case !siteRE.MatchString(c.Site):
		l.errorf(c.Pos.Line("site"), "site %q must be lower-case letters, digits, - or _ (it is part of MQTT topics)", c.Site)
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	} else {
		c.StateDir = l.abs(c.StateDir)
	}
	l.warnStateDirMode(c)
	l.stateDir = c.StateDir
}

func (l *loader) logSection(c *Config) {
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if !oneOf(c.Log.Format, "text", "json") {
		l.errorf(c.Log.Pos.Line("format"), "log.format %q is not one of text, json", c.Log.Format)
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		l.errorf(c.Log.Pos.Line("level"), "log.level %q is not one of debug, info, warn, error", c.Log.Level)
	}
}

func (l *loader) statusSection(c *Config) {
	s := &c.Status
	if !s.Pos.Has("listen") {
		s.Listen = "127.0.0.1:8787"
	}
	if s.Listen == "off" {
		s.Listen = ""
	}
	l.resolveSecret("status: ", &s.Password, s.PasswordFile, s.Pos, "password", false)
	if s.Listen == "" {
		return
	}
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		l.errorf(s.Pos.Line("listen"), "status.listen %q is not host:port", s.Listen)
		return
	}
	if !isLoopback(host) && (s.Username == "" || !l.secretGiven(s.Password, s.Pos, "password")) {
		l.errorf(s.Pos.Line("listen"), "status.listen %q is reachable from the network: set status.username and status.password, or listen on 127.0.0.1", s.Listen)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) ewsSection(c *Config) {
	e := &c.EWS
	if e.Listen == "" {
		e.Listen = ":8443"
	}
	if _, _, err := net.SplitHostPort(e.Listen); err != nil {
		l.errorf(e.Pos.Line("listen"), "ews.listen %q is not host:port", e.Listen)
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		l.errorf(e.Pos.Line(""), "ews: give both cert_file and key_file, or neither (a self-signed certificate is generated)")
	}
	e.CertFile, e.KeyFile = l.abs(e.CertFile), l.abs(e.KeyFile)
	l.fileExists(e.CertFile, e.Pos, "cert_file")
	l.fileExists(e.KeyFile, e.Pos, "key_file")
	if e.NotPollingFactor == 0 {
		e.NotPollingFactor = 3
	}
	if e.NotPollingFactor < 1.5 {
		l.errorf(e.Pos.Line("not_polling_factor"), "ews.not_polling_factor %g must be at least 1.5", e.NotPollingFactor)
	}
	if e.BodyTemplate != "" {
		if _, err := rules.ParseTemplate("body_template", e.BodyTemplate); err != nil {
			l.errorf(e.Pos.Line("body_template"), "ews.body_template: %s", err)
		}
	}
}

func (l *loader) ciscoSection(c *Config) {
	p := &c.Cisco
	defDur(&p.WindowPast, time.Hour)
	defDur(&p.SafetyInterval, 30*time.Minute)
	if p.WindowDays == nil {
		v := 1
		p.WindowDays = &v
	}
	if *p.WindowPast < 0 || *p.WindowPast > 24*time.Hour {
		l.errorf(p.Pos.Line("window_past"), "cisco.window_past %s is outside 0–24h", *p.WindowPast)
	}
	if *p.WindowDays < 0 || *p.WindowDays > 14 {
		l.errorf(p.Pos.Line("window_days"), "cisco.window_days %d is outside 0–14", *p.WindowDays)
	}
	if *p.SafetyInterval < time.Minute {
		l.errorf(p.Pos.Line("safety_interval"), "cisco.safety_interval %s is below 1m", *p.SafetyInterval)
	}
	switch p.Connection {
	case "":
		p.Connection = CiscoOnDemand
	case CiscoOnDemand, CiscoPersistent:
	default:
		l.errorf(p.Pos.Line("connection"), "cisco.connection %q: must be %s or %s", p.Connection, CiscoOnDemand, CiscoPersistent)
	}
	defDur(&p.CheckInterval, 5*time.Minute)
	if *p.CheckInterval < 30*time.Second || *p.CheckInterval > 30*time.Minute {
		l.errorf(p.Pos.Line("check_interval"), "cisco.check_interval %s is outside 30s–30m (it bounds how long a restarted codec stays without bookings)", *p.CheckInterval)
	}
}

func (l *loader) mqttSection(c *Config) {
	m := &c.MQTT
	defDur(&m.KeepAlive, 30*time.Second)
	defDur(&m.MetricsInterval, time.Minute)
	if m.OutboxMaxMessages == 0 {
		m.OutboxMaxMessages = 100_000
	}
	if m.OutboxMaxBytes == 0 {
		m.OutboxMaxBytes = 64 << 20
	}
	l.resolveSecret("mqtt: ", &m.Password, m.PasswordFile, m.Pos, "password", false)
	m.CAFile, m.CertFile, m.KeyFile = l.abs(m.CAFile), l.abs(m.CertFile), l.abs(m.KeyFile)
	l.fileExists(m.CAFile, m.Pos, "ca_file")
	l.fileExists(m.CertFile, m.Pos, "cert_file")
	l.fileExists(m.KeyFile, m.Pos, "key_file")
	if (m.CertFile == "") != (m.KeyFile == "") {
		l.errorf(m.Pos.Line(""), "mqtt: give both cert_file and key_file (client certificate), or neither")
	}
	if m.OutboxMaxMessages < 100 {
		l.errorf(m.Pos.Line("outbox_max_messages"), "mqtt.outbox_max_messages %d is below 100", m.OutboxMaxMessages)
	}
	if m.OutboxMaxBytes < 1<<20 {
		l.errorf(m.Pos.Line("outbox_max_bytes"), "mqtt.outbox_max_bytes %d is below 1 MiB (1048576)", m.OutboxMaxBytes)
	}
	if *m.KeepAlive < 5*time.Second {
		l.errorf(m.Pos.Line("keepalive"), "mqtt.keepalive %s is below 5s", *m.KeepAlive)
	}
	if *m.MetricsInterval < 5*time.Second {
		l.errorf(m.Pos.Line("metrics_interval"), "mqtt.metrics_interval %s is below 5s", *m.MetricsInterval)
	}
	if !m.Enabled() {
		return
	}
	// The broker is printed through RedactURL only: a URL may carry user:password@, and one
	// that does not parse is exactly the one an error message shows.
	u, err := url.Parse(m.Broker)
	if err != nil || u.Host == "" || !oneOf(u.Scheme, "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss") {
		l.errorf(m.Pos.Line("broker"), "mqtt.broker %q must be a URL such as tcp://broker:1883 or ssl://broker:8883", RedactURL(m.Broker))
		return
	}
	if u.Port() == "" {
		l.errorf(m.Pos.Line("broker"), "mqtt.broker %q has no port (1883 for tcp://, 8883 for ssl://)", RedactURL(m.Broker))
	}
	if l.secretGiven(m.Password, m.Pos, "password") && m.Username == "" {
		l.errorf(m.Pos.Line("password"), "mqtt.password is set but mqtt.username is not")
	}
	l.warnPlainMQTT(m, u)
}

func (l *loader) profiles(c *Config, integrations map[string]bool) map[string]bool {
	names := map[string]int{}
	// A profile without integration: takes the only one, or the only one that is not a shadow:
	// adding an integration in shadow to a one-integration site is a pure addition.
	var live []string
	for _, in := range c.Integrations {
		if in.Shadow == nil {
			live = append(live, in.Name)
		}
	}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		l.uniqueName("profile", p.Name, p.Pos, names)
		switch {
		case p.Integration == "" && len(c.Integrations) == 1:
			p.Integration = c.Integrations[0].Name
		case p.Integration == "" && len(live) == 1:
			p.Integration = live[0]
		case p.Integration == "":
			l.errorf(p.Pos.Line(""), "profile %q: integration is required when there are several integrations", p.Name)
		case !integrations[p.Integration]:
			l.errorf(p.Pos.Line("integration"), "profile %q: integration %q is not defined%s", p.Name, p.Integration, known(integrations))
		}
		for _, fe := range p.Settings.Validate() {
			l.errorf(p.Pos.Line(fe.Field), "profile %q: %s", p.Name, fe)
		}
		p.Settings = p.Settings.WithDefaults()
		ruleNames := map[string]int{}
		prios := map[int]string{}
		for j := range p.Rules {
			r := &p.Rules[j]
			for _, fe := range r.Validate() {
				l.errorf(r.Pos.Line(fe.Field), "profile %q rule %q: %s", p.Name, r.Name, fe)
			}
			if r.Name != "" {
				if line, dup := ruleNames[r.Name]; dup {
					l.errorf(r.Pos.Line("name"), "profile %q: rule name %q is already used at line %d", p.Name, r.Name, line)
				} else {
					ruleNames[r.Name] = r.Pos.Line("name")
				}
			}
			if other, dup := prios[r.Priority]; dup && r.Priority != 0 {
				l.errorf(r.Pos.Line("priority"), "profile %q rule %q: priority %d is already used by rule %q; the first match wins, so priorities must differ", p.Name, r.Name, r.Priority, other)
			} else {
				prios[r.Priority] = r.Name
			}
		}
	}
	if len(c.Profiles) == 0 {
		l.errorf(c.Pos.Line(""), "profiles: at least one profile is required")
	}
	out := map[string]bool{}
	for n := range names {
		out[n] = true
	}
	return out
}

func (l *loader) endpoints(c *Config, profiles map[string]bool) {
	names := map[string]int{}
	unique := map[string]map[string]string{} // EndpointCheck.Unique's claims
	roomProfile := map[string]string{}
	roomEndpoint := map[string]string{}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		l.uniqueName("endpoint", e.Name, e.Pos, names)
		e.Room = strings.ToLower(strings.TrimSpace(e.Room))
		if e.Room == "" {
			l.errorf(e.Pos.Line("room"), "endpoint %q: room is required (the room mailbox, e.g. room-1@example.com)", e.Name)
		} else if a, err := mail.ParseAddress(e.Room); err != nil || a.Address != e.Room {
			l.errorf(e.Pos.Line("room"), "endpoint %q: room %q is not a mailbox address", e.Name, e.Room)
		}
		switch {
		case e.Profile == "" && len(c.Profiles) == 1:
			e.Profile = c.Profiles[0].Name
		case e.Profile == "":
			l.errorf(e.Pos.Line(""), "endpoint %q: profile is required when there are several profiles", e.Name)
		case !profiles[e.Profile]:
			l.errorf(e.Pos.Line("profile"), "endpoint %q: profile %q is not defined%s", e.Name, e.Profile, known(profiles))
		}
		if e.Room != "" && profiles[e.Profile] {
			if p, ok := roomProfile[e.Room]; ok && p != e.Profile {
				l.errorf(e.Pos.Line("profile"), "endpoint %q: room %s already uses profile %q (endpoint %q); a room has one profile", e.Name, e.Room, p, roomEndpoint[e.Room])
			} else if !ok {
				roomProfile[e.Room], roomEndpoint[e.Room] = e.Profile, e.Name
			}
		}
		e.CAFile = l.abs(e.CAFile)
		l.fileExists(e.CAFile, e.Pos, "ca_file")
		if e.Fingerprint != "" {
			fp := strings.ToLower(strings.ReplaceAll(e.Fingerprint, ":", ""))
			if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
				l.errorf(e.Pos.Line("fingerprint"), "endpoint %q: fingerprint must be a SHA-256 in hex (64 digits, colons allowed)", e.Name)
			} else {
				e.Fingerprint = fp
			}
		}
		l.endpointType(e, unique)
	}
}

// checkAddress accepts host, host:port, [v6]:port or a URL with one of the schemes.
func checkAddress(a string, schemes ...string) error {
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a valid URL", a)
		}
		if !oneOf(u.Scheme, schemes...) {
			return fmt.Errorf("%q: scheme must be %s", a, strings.Join(schemes, " or "))
		}
		return nil
	}
	host := a
	if h, _, err := net.SplitHostPort(a); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q is not a host name or IP address", a)
	}
	return nil
}

func (l *loader) uniqueName(kind, name string, pos Pos, seen map[string]int) {
	switch {
	case name == "":
		l.errorf(pos.Line(""), "%s: name is required", kind)
	case !nameRE.MatchString(name):
		l.errorf(pos.Line("name"), "%s name %q may only contain letters, digits, '.', '_' and '-'", kind, name)
	default:
		if line, dup := seen[name]; dup {
			l.errorf(pos.Line("name"), "%s name %q is already used at line %d", kind, name, line)
			return
		}
		seen[name] = pos.Line("name")
	}
}

func (l *loader) fileExists(path string, pos Pos, key string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		l.errorf(pos.Line(key), "%s %s: %s", key, path, describeFileErr(err))
	}
}

func known(set map[string]bool) string {
	if len(set) == 0 {
		return ""
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}

func defDur(p **time.Duration, d time.Duration) {
	if *p == nil {
		*p = &d
	}
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}
