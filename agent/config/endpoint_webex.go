package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// Webex cloud-registered Cisco devices. A connection (top-level `webex:` list) is one Webex
// integration's credentials: the agent trades its refresh token for access tokens and pushes
// bookings through Webex's cloud xAPI. It is not an `integrations:` entry because those are
// calendar sources (a profile names one, rooms sync from it); a Webex connection reaches
// devices, and several endpoints, in any rooms, share one (and its rate limit).

// DefaultWebexAPIURL is Webex's public API base.
const DefaultWebexAPIURL = "https://webexapis.com/v1"

// WebexConnection is one Webex integration the agent acts as.
type WebexConnection struct {
	Name string `yaml:"name"`
	// APIURL is the API base; default https://webexapis.com/v1.
	APIURL string `yaml:"api_url"`
	// TokenURL is the OAuth token endpoint; default APIURL + "/access_token".
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret are the integration's.
	ClientID         string `yaml:"client_id"`
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RefreshToken is the first refresh token (from the integration's OAuth flow). Webex may
	// rotate it; the newest is kept sealed in the state directory (tokenvault), and this one
	// is used again only when it changes (a re-authorisation).
	RefreshToken     Secret `yaml:"refresh_token"`
	RefreshTokenFile string `yaml:"refresh_token_file"`
	// CAFile adds a CA for the API and token URLs (a TLS-inspecting proxy, the simulator).
	CAFile string `yaml:"ca_file"`
	Pos    Pos    `yaml:"-"`
}

// WebexConnection returns the named connection, or nil.
func (c *Config) WebexConnection(name string) *WebexConnection {
	for i := range c.Webex {
		if c.Webex[i].Name == name {
			return &c.Webex[i]
		}
	}
	return nil
}

func init() {
	RegisterEndpointType(EndpointWebex, EndpointType{
		Label: "Webex",
		Keys:  []string{"webex", "device_id", "workspace", "device_name"},
		Check: func(c *EndpointCheck, e *Endpoint) {
			e.DeviceID, e.Workspace, e.DeviceName = strings.TrimSpace(e.DeviceID), strings.TrimSpace(e.Workspace), strings.TrimSpace(e.DeviceName)
			var given []string
			for _, k := range []struct{ key, v string }{{"device_id", e.DeviceID}, {"workspace", e.Workspace}, {"device_name", e.DeviceName}} {
				if k.v != "" {
					given = append(given, k.key)
				}
			}
			switch len(given) {
			case 0:
				c.Errorf("", "a Webex endpoint names its device: give one of device_id, workspace (id or name) or device_name (the device's name in Control Hub)")
			case 1:
			default:
				c.Errorf(given[1], "give only one of device_id, workspace and device_name (found %s)", strings.Join(given, " and "))
			}
			for _, k := range []string{"ca_file", "fingerprint"} {
				if c.Has(k) {
					c.Errorf(k, "%s does not apply to a Webex endpoint: otj-edge talks to Webex, not to the device (set ca_file on the webex connection if needed)", k)
				}
			}
			if e.DeviceID != "" {
				if other, dup := c.Unique("device_id", e.DeviceID); dup {
					c.Errorf("device_id", "device_id is already used by endpoint %q; a device gets its bookings from one endpoint", other)
				}
			}
		},
	})
}

// webexSection checks the connections and the endpoints' references to them (after the
// endpoints, whose own keys endpointType checked).
func (l *loader) webexSection(c *Config) {
	lines := map[string]int{}
	names := map[string]bool{}
	for i := range c.Webex {
		w := &c.Webex[i]
		l.uniqueName("webex connection", w.Name, w.Pos, lines)
		names[w.Name] = true
		owner := fmt.Sprintf("webex %q: ", w.Name)
		if w.APIURL == "" {
			w.APIURL = DefaultWebexAPIURL
		}
		w.APIURL = strings.TrimRight(w.APIURL, "/")
		if err := webexURL(w.APIURL); err != nil {
			l.errorf(w.Pos.Line("api_url"), "%sapi_url %s", owner, err)
		}
		if w.TokenURL == "" {
			w.TokenURL = w.APIURL + "/access_token"
		} else if err := webexURL(w.TokenURL); err != nil {
			l.errorf(w.Pos.Line("token_url"), "%stoken_url %s", owner, err)
		}
		if strings.TrimSpace(w.ClientID) == "" {
			l.errorf(w.Pos.Line("client_id"), "%sclient_id is required (the Webex integration's Client ID, developer.webex.com → My Apps)", owner)
		}
		l.resolveSecret(owner, &w.ClientSecret, w.ClientSecretFile, w.Pos, "client_secret", true)
		l.resolveSecret(owner, &w.RefreshToken, w.RefreshTokenFile, w.Pos, "refresh_token", true)
		w.CAFile = l.abs(w.CAFile)
		l.fileExists(w.CAFile, w.Pos, "ca_file")
	}
	known := make([]string, 0, len(names))
	for n := range names {
		known = append(known, n)
	}
	sort.Strings(known)
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if e.Type != EndpointWebex {
			continue
		}
		switch {
		case e.Webex == "" && len(c.Webex) == 1:
			e.Webex = c.Webex[0].Name
		case e.Webex == "" && len(c.Webex) == 0:
			l.errorf(e.Pos.Line(""), "endpoint %q: a Webex endpoint needs a Webex connection: add a top-level webex: entry (name, client_id, client_secret, refresh_token)", e.Name)
		case e.Webex == "":
			l.errorf(e.Pos.Line(""), "endpoint %q: webex is required when there are several Webex connections (one of %s)", e.Name, strings.Join(known, ", "))
		case !names[e.Webex]:
			l.errorf(e.Pos.Line("webex"), "endpoint %q: webex connection %q is not defined (defined: %s)", e.Name, e.Webex, orNone(known))
		}
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// webexURL accepts an https URL, or http to a loopback address (a local simulator).
func webexURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%q must be an https:// URL", s)
}
