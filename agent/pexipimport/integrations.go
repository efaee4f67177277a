package pexipimport

import (
	"fmt"
	"net/url"
	"strings"
)

// Pexip's request quotas and otj-edge's accepted range for max_requests_per_day.
const (
	minRequestsPerDay = 10_000
	maxRequestsPerDay = 10_000_000
)

// integrations writes one integration per deployment a profile uses.
func (m *mapper) integrations() {
	m.out.WriteString("\nintegrations:\n")
	used := map[*Object]bool{}
	for _, p := range m.e.Objects["mjx_integration"] {
		var deps []*Object
		for _, f := range []string{"graph_deployment", "exchange_deployment", "google_deployment"} {
			if d := m.e.ref(p, f); d != nil {
				deps = append(deps, d)
			}
		}
		switch {
		case len(deps) == 0:
			m.r.decide(p, "", "names no Graph, Exchange or Google deployment (or the export lacks it): its profile gets no integration; add one")
		case len(deps) > 1:
			m.r.decide(p, "", "names %d deployments; Pexip uses one per profile: the first (%s) is used", len(deps), label(deps[0]))
		}
		if len(deps) > 0 {
			used[deps[0]] = true
		}
	}
	wrote := false
	for _, kind := range []string{"mjx_graph_deployment", "mjx_exchange_deployment", "mjx_google_deployment"} {
		for _, d := range m.e.Objects[kind] {
			if !used[d] {
				m.r.decide(d, "", "no One-Touch Join profile uses it: not imported")
				d.Name()
				for k := range d.Fields {
					d.used[k] = true
				}
				continue
			}
			var b block
			var need []string
			switch kind {
			case "mjx_graph_deployment":
				m.graph(d, &b, &need)
			case "mjx_exchange_deployment":
				m.exchange(d, &b, &need)
			case "mjx_google_deployment":
				m.google(d, &b)
			}
			m.emit(&b, true, need)
			wrote = true
		}
	}
	if !wrote {
		m.out.WriteString("  []\n")
	}
}

func (m *mapper) header(b *block, d *Object) string {
	n := m.name("integration", d.Name())
	m.integ[d] = n
	b.raw("")
	b.comment(2, "from %s %q", d.Kind, d.Name())
	if desc := d.Str("description"); desc != "" {
		b.comment(2, "%s", oneLine(desc))
	}
	b.kv(2, "- name", yq(n), "")
	return n
}

func (m *mapper) quota(d *Object, b *block, field string, pexipDefault int64) {
	q, ok := d.Int(field)
	if !ok {
		return
	}
	w := q
	if w < minRequestsPerDay {
		w = minRequestsPerDay
	}
	if w > maxRequestsPerDay {
		w = maxRequestsPerDay
	}
	if w != q {
		m.r.decide(d, field, "%d is outside otj-edge's 10000–10000000: written as %d", q, w)
	}
	comment := field
	if q == pexipDefault {
		comment += " (Pexip's default)"
	}
	b.kv(4, "max_requests_per_day", fmt.Sprint(w), comment)
}

func (m *mapper) graph(d *Object, b *block, need *[]string) {
	n := m.header(b, d)
	b.kv(4, "type", "graph", "")
	b.kv(4, "client_id", yq(d.Str("client_id")), "client_id")
	b.kv(4, "client_secret", m.secret(d, "client_secret", envName("graph", n, "client_secret"), need), "client_secret (or client_secret_file, or a certificate: README)")
	b.kv(4, "token_url", yq(d.Str("oauth_token_url")), "oauth_token_url")
	if dom := d.Str("graph_api_domain"); dom != "" && dom != "graph.microsoft.com" {
		b.kv(4, "graph_url", yq("https://"+strings.TrimSuffix(strings.TrimPrefix(dom, "https://"), "/")+"/v1.0"), "graph_api_domain")
	}
	m.quota(d, b, "request_quota", 1_000_000)
	m.r.imported("integration %s (graph) from %s", n, label(d))
	if d.Str("client_id") == "" || d.Str("oauth_token_url") == "" {
		m.r.decide(d, "", "client_id or oauth_token_url is empty in the export: fill them in")
	}
}

func (m *mapper) exchange(d *Object, b *block, need *[]string) {
	n := m.header(b, d)
	b.kv(4, "type", "ews", "Exchange Server on premises, read over EWS")
	if u := d.Str("ews_url"); u != "" {
		b.kv(4, "url", yq(u), "ews_url")
	} else if urls := m.e.refs(d, "autodiscover_urls"); len(urls) > 0 {
		b.kv(4, "autodiscover_url", yq(urls[0].Str("url")), "autodiscover_urls (the first)")
	}
	user := d.Str("service_account_username")
	b.kv(4, "username", yq(user), "service_account_username (DOMAIN\\user or a UPN)")
	b.kv(4, "password", m.secret(d, "service_account_password", envName("ews", n, "password"), need), "service_account_password")
	method := strings.ToUpper(d.Str("authentication_method"))
	switch method {
	case "", "BASIC":
		b.kv(4, "auth", "basic", "authentication_method BASIC (https only)")
	case "NTLM":
		b.kv(4, "auth", "ntlm", "authentication_method NTLM")
	case "KERBEROS":
		b.kv(4, "auth", "ntlm", "authentication_method KERBEROS: not supported, NTLM written; decide")
		m.r.decide(d, "authentication_method", "KERBEROS is not supported by otj-edge's EWS source: auth ntlm is written; enable NTLM for the EWS virtual directory or keep Pexip for this deployment")
	case "OAUTH":
		b.kv(4, "auth", "basic", "authentication_method OAUTH: not supported; decide")
		m.r.decide(d, "authentication_method", "OAUTH means Exchange Online: use a graph integration instead (otj-edge setup microsoft365 prints the set-up); basic is written as a placeholder")
	default:
		m.r.decide(d, "authentication_method", "%q is unknown; auth basic is written", method)
		b.kv(4, "auth", "basic", "")
	}
	// Pexip keeps Kerberos and OAuth defaults on every deployment; they matter only when
	// that method is the one in use (and are then reported as having no equivalent).
	for f := range d.Fields {
		if (strings.HasPrefix(f, "kerberos_") && method != "KERBEROS") || (strings.HasPrefix(f, "oauth_") && method != "OAUTH") {
			d.used[f] = true
		}
	}
	b.kv(4, "access", "impersonation", "Pexip's service account impersonates the rooms; delegate if it has folder permissions instead")
	m.quota(d, b, "find_items_request_quota", 1_000_000)
	m.r.imported("integration %s (ews) from %s", n, label(d))
	if urls := m.e.refs(d, "autodiscover_urls"); len(urls) > 1 || (len(urls) > 0 && d.Str("ews_url") != "") {
		m.r.unmapped(d, "autodiscover_urls", unmappedWhy(d.Kind, "autodiscover_urls"))
	}
}

// google writes a google integration. The service account's key is a file the loader reads
// (never inline): it is named beside the config, and the report lists it with the secrets.
func (m *mapper) google(d *Object, b *block) {
	n := m.header(b, d)
	b.kv(4, "type", "google", "")
	keyFile := n + "-key.json"
	b.kv(4, "service_account_key_file", yq(keyFile), "client_email + private_key: the service account's JSON key, beside this config")
	if _, ok := d.Int("maximum_number_of_api_requests"); ok {
		m.quota(d, b, "maximum_number_of_api_requests", 900_000)
	}
	d.Str("private_key")
	if e := d.Str("client_email"); e != "" {
		b.comment(4, "service account: %s", e)
	}
	if d.Bool("use_user_consent", false) {
		m.r.decide(d, "use_user_consent", "Pexip signs in as a domain user (3-legged OAuth); otj-edge uses a service account key: share the room calendars with it, or give it domain-wide delegation and set subject")
	}
	m.r.KeyFiles = append(m.r.KeyFiles, keyFile+" (the JSON key of "+orUnknown(d.Str("client_email"))+")")
	m.r.decide(d, "private_key", "save the service account's JSON key (Cloud console → IAM & Admin → Service accounts → Keys → Add key → JSON) as %s in the config's directory (mode 600); the key is never written into the config", keyFile)
	m.r.imported("integration %s (google) from %s", n, label(d))
}

func orUnknown(s string) string {
	if s == "" {
		return "the service account"
	}
	return s
}

// webexConnections writes the Webex cloud connections of profiles with use_webex.
func (m *mapper) webexConnections() {
	var b block
	var need []string
	for _, p := range m.e.Objects["mjx_integration"] {
		if !p.Bool("use_webex", false) {
			for _, f := range []string{"webex_api_domain", "webex_client_id", "webex_client_secret", "webex_refresh_token"} {
				p.used[f] = true // Pexip fills defaults even when Webex is off
			}
			continue
		}
		n := m.name("webex", p.Name()+"-webex")
		m.webex[p] = n
		if len(b.lines) == 0 {
			b.raw("")
			b.raw("# Webex cloud devices (Pexip's OTJ profile \"Webex\" settings)")
			b.raw("webex:")
		}
		b.comment(2, "from mjx_integration %q", p.Name())
		b.kv(2, "- name", yq(n), "")
		api := p.Str("webex_api_domain")
		if api == "" {
			api = "webexapis.com"
		}
		b.kv(4, "api_url", yq("https://"+strings.TrimSuffix(api, "/")+"/v1"), "webex_api_domain")
		b.kv(4, "client_id", yq(p.Str("webex_client_id")), "webex_client_id")
		b.kv(4, "client_secret", m.secret(p, "webex_client_secret", envName("webex", n, "client_secret"), &need), "webex_client_secret")
		b.kv(4, "refresh_token", m.secret(p, "webex_refresh_token", envName("webex", n, "refresh_token"), &need), "webex_refresh_token (only the first; rotated ones are kept sealed)")
		if p.Str("webex_client_id") == "" {
			m.r.decide(p, "webex_client_id", "is empty: give the Webex integration's client id (developer.webex.com → My Apps)")
		}
		m.r.imported("webex connection %s from %s", n, label(p))
	}
	if len(b.lines) > 0 {
		m.emit(&b, true, need)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// hostPort joins an address and a port unless the port is the scheme's default.
func hostPort(host string, port int64, https bool) string {
	if port == 0 || (https && port == 443) || (!https && port == 80) {
		return host
	}
	u := url.URL{Host: fmt.Sprintf("%s:%d", host, port)}
	return u.Host
}
