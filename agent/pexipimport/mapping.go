package pexipimport

import (
	"fmt"
	"regexp"
	"strings"
)

// Options steer an import.
type Options struct {
	// Site is the written site id (Pexip has none); default "site-1", reported as a decision.
	Site string
	// IncludeSecrets writes secrets the export holds in clear instead of ${ENV} placeholders.
	IncludeSecrets bool
	// Source names where the export came from, for the header comment.
	Source string
}

// Result is the written config and the report.
type Result struct {
	Config []byte
	Report *Report
}

type mapper struct {
	e        *Export
	opts     Options
	r        *Report
	names    map[string]map[string]bool // per kind: names taken
	integ    map[*Object]string         // deployment → integration name
	prof     map[*Object]string         // mjx_integration → profile name
	groups   map[*Object]*Object        // endpoint group → mjx_integration
	webex    map[*Object]string         // mjx_integration → webex connection name
	liveProf map[string]bool            // profile name → written live
	out      strings.Builder
}

// Import maps an export to an otj-edge config.
func Import(e *Export, opts Options) (*Result, error) {
	m := &mapper{e: e, opts: opts, r: &Report{}, names: map[string]map[string]bool{},
		integ: map[*Object]string{}, prof: map[*Object]string{}, groups: map[*Object]*Object{}, webex: map[*Object]string{}, liveProf: map[string]bool{}}
	if len(e.Objects["mjx_integration"]) == 0 {
		return nil, fmt.Errorf("import: the export has no mjx_integration (One-Touch Join profile); export %smjx_integration/ too", apiPrefix)
	}
	site := opts.Site
	if site == "" {
		site = "site-1"
		m.r.Decisions = append(m.r.Decisions, Item{"site", "", `Pexip has no site id: written as "site-1"; give --site (it names the site in MQTT topics)`})
	}
	src := opts.Source
	if src == "" {
		src = "a Pexip Infinity configuration export"
	}
	fmt.Fprintf(&m.out, "# otj-edge configuration imported from %s by `otj-edge import pexip`.\n", src)
	m.out.WriteString("# Each key names the Pexip field it came from. Read the import report, then run\n# `otj-edge check --offline` and `otj-edge check`.\n")
	fmt.Fprintf(&m.out, "site: %s\n", yq(site))

	m.integrations()
	m.webexConnections()
	m.profiles()
	m.endpoints()
	for _, kind := range Objects {
		for _, o := range e.Objects[kind] {
			for _, f := range o.unused() {
				m.r.Unmapped = append(m.r.Unmapped, Item{label(o), f, unmappedWhy(kind, f)})
			}
		}
	}
	return &Result{Config: []byte(m.out.String()), Report: m.r}, nil
}

// unmappedWhy explains the fields with no otj-edge equivalent.
func unmappedWhy(kind, field string) string {
	switch field {
	case "disable_proxy":
		return "no equivalent: Pexip's Conferencing Nodes may reach the service through a web proxy; otj-edge has no per-integration proxy setting"
	case "system_location":
		return "no equivalent: a system location ties rooms to Conferencing Nodes; one otj-edge agent serves its site's rooms itself"
	case "default_processing_enabled":
		return "no equivalent: otj-edge always tries the sip:/h323: fallback after the rules (a sip_h323_only rule moves it to a priority)"
	case "poly_raise_alarms_for_this_endpoint":
		return "no equivalent: otj-edge raises the \"endpoint not polling\" alarm for every Poly endpoint (ews.not_polling_factor sets when)"
	case "webex_redirect_uri", "webex_oauth_state":
		return "no equivalent: otj-edge starts from the refresh token and keeps rotated tokens itself"
	case "autodiscover_urls":
		return "no equivalent for several autodiscover URLs: otj-edge asks one (autodiscover_url) or uses url"
	case "description":
		return "written as a comment"
	}
	if strings.HasPrefix(field, "kerberos_") {
		return "no equivalent: otj-edge's EWS source authenticates with NTLM or Basic (no Kerberos)"
	}
	if strings.HasPrefix(field, "oauth_") {
		return "no equivalent: EWS with OAuth is Exchange Online, which otj-edge reads through a graph integration"
	}
	return "not used by otj-edge"
}

// name returns a unique config name (letters, digits, . _ -) for a Pexip name.
func (m *mapper) name(kind, pexip string) string {
	s := strings.Trim(nonName.ReplaceAllString(strings.ToLower(strings.TrimSpace(pexip)), "-"), "-._")
	if s == "" {
		s = kind
	}
	if len(s) > 100 {
		s = s[:100]
	}
	taken := m.names[kind]
	if taken == nil {
		taken = map[string]bool{}
		m.names[kind] = taken
	}
	n := s
	for i := 2; taken[n]; i++ {
		n = fmt.Sprintf("%s-%d", s, i)
	}
	taken[n] = true
	return n
}

var nonName = regexp.MustCompile(`[^a-z0-9._-]+`)

// envName is the environment variable a secret is read from.
func envName(parts ...string) string {
	s := strings.ToUpper(strings.Join(parts, "_"))
	return "OTJ_" + strings.Trim(nonEnv.ReplaceAllString(s, "_"), "_")
}

var nonEnv = regexp.MustCompile(`[^A-Z0-9]+`)

// secret is the value written for a secret field: a ${ENV} placeholder, or with
// IncludeSecrets the value the export holds (when it holds one). env is recorded in *need.
func (m *mapper) secret(o *Object, field, env string, need *[]string) string {
	v := o.Str(field)
	if m.opts.IncludeSecrets && v != "" {
		return yq(v)
	}
	*need = append(*need, env)
	return "${" + env + "}"
}

// emit writes a block live, or commented out when it could not load (a refused rule type, an
// untranslatable template, a profile without an integration); the secrets a live block reads
// are listed in the report.
func (m *mapper) emit(b *block, live bool, secrets []string) {
	m.out.WriteString(b.render(!live))
	if live {
		m.r.Secrets = append(m.r.Secrets, secrets...)
	}
}
