package pexipimport

import (
	"strings"
)

// endpoints writes one endpoint per mjx_endpoint, in the profile of its endpoint group.
func (m *mapper) endpoints() {
	groupProfile := map[*Object]*Object{}
	for _, p := range m.e.Objects["mjx_integration"] {
		for _, g := range m.e.refs(p, "endpoint_groups") {
			groupProfile[g] = p
		}
	}
	for _, g := range m.e.Objects["mjx_endpoint_group"] {
		if p := m.e.ref(g, "mjx_integration"); p != nil {
			groupProfile[g] = p
		}
		g.Str("name")
		g.Str("description")
	}
	m.out.WriteString("\nendpoints:\n")
	wrote := false
	for _, ep := range m.e.Objects["mjx_endpoint"] {
		n := m.name("endpoint", ep.Name())
		var b block
		var need []string
		b.raw("")
		g := m.e.ref(ep, "mjx_endpoint_group")
		p := groupProfile[g]
		if g != nil {
			b.comment(2, "from mjx_endpoint %q (endpoint group %q)", ep.Name(), g.Name())
		} else {
			b.comment(2, "from mjx_endpoint %q", ep.Name())
		}
		if d := ep.Str("description"); d != "" {
			b.comment(2, "%s", oneLine(d))
		}
		b.kv(2, "- name", yq(n), "")
		live := true
		typ := strings.ToUpper(ep.Str("endpoint_type"))
		switch typ {
		case "CISCO":
			b.kv(4, "type", "cisco", "")
		case "POLY":
			b.kv(4, "type", "poly", "")
		case "WEBEX":
			b.kv(4, "type", "webex", "")
		default:
			live = false
			m.r.decide(ep, "endpoint_type", "%q is not CISCO, POLY or WEBEX: kept commented out", typ)
		}
		room := strings.ToLower(ep.Str("room_resource_email"))
		b.kv(4, "room", yq(room), "room_resource_email")
		if room == "" {
			m.r.decide(ep, "room_resource_email", "is empty: give the room mailbox; the endpoint is kept commented out")
			live = false
		}
		switch {
		case p != nil && m.prof[p] != "":
			b.kv(4, "profile", yq(m.prof[p]), "the endpoint group's OTJ profile")
			if !m.liveProf[m.prof[p]] {
				live = false
			}
		default:
			m.r.decide(ep, "mjx_endpoint_group", "the endpoint's group has no OTJ profile in the export: kept commented out; give it a profile")
			live = false
		}
		switch typ {
		case "CISCO":
			m.cisco(ep, p, n, &b, &need)
		case "POLY":
			m.poly(ep, n, &b, &need)
		case "WEBEX":
			if p != nil && m.webex[p] != "" {
				b.kv(4, "webex", yq(m.webex[p]), "the OTJ profile's Webex settings")
			} else {
				m.r.decide(ep, "endpoint_type", "WEBEX, but its OTJ profile does not use Webex (use_webex): kept commented out; turn Webex on in the profile or give the endpoint a webex connection")
				live = false
			}
			b.kv(4, "device_id", yq(ep.Str("webex_device_id")), "webex_device_id")
			if ep.Str("webex_device_id") == "" {
				m.r.decide(ep, "webex_device_id", "is empty: give the Webex device id (or replace device_id with workspace or device_name)")
				live = false
			}
		}
		// Fields Pexip fills with defaults on every endpoint, whatever its type: only a
		// value that means something for this type is reported.
		if typ != "POLY" {
			ep.used["poly_raise_alarms_for_this_endpoint"] = true
		}
		for _, f := range []string{"use_https", "verify_cert"} {
			if strings.EqualFold(ep.Str(f), "GLOBAL") {
				ep.used[f] = true
			} else if typ != "CISCO" {
				ep.used[f] = false
			}
		}
		m.emit(&b, live, need)
		if live {
			wrote = true
			m.r.imported("endpoint %s (%s, room %s) from %s", n, strings.ToLower(typ), room, label(ep))
		}
	}
	if !wrote {
		m.out.WriteString("  []\n")
	}
}

// cisco maps the codec's API access. Pexip keeps defaults on the profile (ep_*) that an
// endpoint may override (api_*, use_https/verify_cert GLOBAL|YES|NO).
func (m *mapper) cisco(ep, p *Object, n string, b *block, need *[]string) {
	https := true
	verify := false
	if p != nil {
		https = p.Bool("ep_use_https", true)
		verify = p.Bool("ep_verify_certificate", false)
	}
	switch strings.ToUpper(ep.Str("use_https")) {
	case "YES":
		https = true
	case "NO":
		https = false
	}
	switch strings.ToUpper(ep.Str("verify_cert")) {
	case "YES":
		verify = true
	case "NO":
		verify = false
	}
	port, _ := ep.Int("api_port")
	if !https && port == 80 {
		port = 0 // Pexip's plain-HTTP port; otj-edge speaks TLS, on 443 by default
	}
	addr := hostPort(ep.Str("api_address"), port, true)
	if addr == "" {
		addr = ep.Str("api_address")
	}
	b.kv(4, "address", yq(addr), "api_address / api_port")
	if addr == "" {
		m.r.decide(ep, "api_address", "is empty: a Cisco endpoint needs the codec's address")
	}
	if !https {
		m.r.decide(ep, "use_https", "Pexip talks to this codec over plain HTTP; otj-edge always uses TLS (wss/https): make sure the codec's HTTPS is on")
	}
	user := ep.Str("api_username")
	from := "api_username"
	if user == "" && p != nil {
		user, from = p.Str("ep_username"), "the OTJ profile's ep_username"
	}
	b.kv(4, "username", yq(user), from)
	if user == "" {
		m.r.decide(ep, "api_username", "no codec user in the endpoint or its profile: give an Admin-role user")
	}
	pw := "api_password"
	src := ep
	if ep.Str("api_password") == "" && ep.Str("api_username") == "" && p != nil {
		src, pw = p, "ep_password"
	}
	env := envName("cisco", n, "password")
	if src == p {
		env = envName("cisco", m.prof[p], "password")
	}
	b.kv(4, "password", m.secret(src, pw, env, need), pw)
	if verify {
		b.comment(4, "Pexip verified this codec's certificate: give ca_file (your CA) or fingerprint, else it is pinned on first use")
		b.comment(4, "ca_file: /etc/otj-edge/codec-ca.pem")
		m.r.decide(ep, "verify_cert", "Pexip verified the codec's certificate: set ca_file (your CA) or fingerprint (otj-edge endpoints trust); without either it is pinned on first use")
	}
}

// poly maps the credentials the Poly endpoint logs in to the calendar service with.
func (m *mapper) poly(ep *Object, n string, b *block, need *[]string) {
	b.kv(4, "calendar_username", yq(ep.Str("poly_username")), "poly_username")
	b.kv(4, "calendar_password", m.secret(ep, "poly_password", envName("poly", n, "calendar_password"), need), "poly_password")
	if ep.Str("poly_username") == "" {
		m.r.decide(ep, "poly_username", "is empty: give the user name the Poly endpoint logs in with")
	}
	if !ep.Bool("poly_raise_alarms_for_this_endpoint", true) {
		ep.used["poly_raise_alarms_for_this_endpoint"] = false
	}
	m.r.decide(ep, "", "point the Poly endpoint's Exchange/calendaring server at this otj-edge (ews.listen, default port 8443) instead of the Conferencing Node")
	for _, f := range []string{"api_address", "api_port", "api_username", "api_password"} {
		if ep.Str(f) != "" {
			ep.used[f] = false
		}
	}
}
