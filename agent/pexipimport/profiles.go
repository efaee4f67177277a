package pexipimport

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/otj-edge/otj-edge/sync/rules"
)

// profiles writes one profile per mjx_integration (Pexip's "One-Touch Join profile"), its
// processing settings key by key and its meeting processing rules.
func (m *mapper) profiles() {
	m.out.WriteString("\nprofiles:\n")
	rulesOf := map[*Object][]*Object{}
	for _, r := range m.e.Objects["mjx_meeting_processing_rule"] {
		p := m.e.ref(r, "mjx_integration")
		if p == nil {
			m.r.decide(r, "mjx_integration", "the rule's profile is not in the export: not imported")
			for k := range r.Fields {
				r.used[k] = true
			}
			continue
		}
		rulesOf[p] = append(rulesOf[p], r)
	}
	for _, p := range m.e.Objects["mjx_integration"] {
		n := m.name("profile", p.Name())
		m.prof[p] = n
		var b block
		b.raw("")
		b.comment(2, "from mjx_integration %q (One-Touch Join profile)", p.Name())
		if d := p.Str("description"); d != "" {
			b.comment(2, "%s", oneLine(d))
		}
		b.kv(2, "- name", yq(n), "")
		live := false
		for _, f := range []string{"graph_deployment", "exchange_deployment", "google_deployment"} {
			if d := m.e.ref(p, f); d != nil && m.integ[d] != "" {
				b.kv(4, "integration", yq(m.integ[d]), f)
				live = true
				break
			}
		}
		if !live {
			b.comment(4, "no integration: the profile is kept commented out")
			m.r.decide(p, "", "its deployment is not in the export: the profile, its rules and its endpoints are written commented out; add its integration")
		}
		m.settings(p, &b)
		rs := rulesOf[p]
		sort.SliceStable(rs, func(i, j int) bool {
			a, _ := rs[i].Int("priority")
			c, _ := rs[j].Int("priority")
			return a < c
		})
		if len(rs) > 0 {
			b.kv(4, "rules", "", "")
		}
		taken := map[int64]bool{}
		names := map[string]bool{}
		for _, r := range rs {
			rb, ruleLive := m.rule(r, taken, names)
			if ruleLive {
				b.lines = append(b.lines, rb.lines...)
			} else {
				for _, l := range rb.lines {
					b.raw("# " + l)
				}
			}
		}
		m.liveProf[n] = live
		m.emit(&b, live, nil)
		if live {
			plural := "s"
			if len(rs) == 1 {
				plural = ""
			}
			m.r.imported("profile %s with %d rule%s from %s", n, len(rs), plural, label(p))
		}
	}
}

func minutes(o *Object, field string, def int64) (string, string) {
	v, ok := o.Int(field)
	if !ok {
		v = def
	}
	if v == 0 {
		return "0s", field
	}
	return fmt.Sprintf("%dm", v), fmt.Sprintf("%s (%d minutes)", field, v)
}

func (m *mapper) settings(p *Object, b *block) {
	// The profile-wide codec defaults are read per Cisco endpoint (endpoints.go).
	p.used["ep_use_https"], p.used["ep_verify_certificate"] = true, true
	days, ok := p.Int("display_upcoming_meetings")
	if !ok {
		days = 7
	}
	b.kv(4, "upcoming_days", fmt.Sprint(days), "display_upcoming_meetings")
	v, c := minutes(p, "start_buffer", 5)
	b.kv(4, "start_buffer", v, c)
	v, c = minutes(p, "end_buffer", 0)
	b.kv(4, "end_buffer", v, c)
	choose := func(field string, def bool, yes, no string) (string, string) {
		if p.Bool(field, def) {
			return yes, field + " true"
		}
		return no, field + " false"
	}
	v, c = choose("enable_non_video_meetings", true, "show", "hide")
	b.kv(4, "non_video_meetings", v, c)
	v, c = choose("enable_private_meetings", true, "process", "ignore")
	b.kv(4, "private_meetings", v, c)
	v, c = choose("process_alias_private_meetings", true, "false", "true")
	b.kv(4, "hide_private_address", v, c)
	v, c = choose("replace_empty_subject", true, "true", "false")
	b.kv(4, "replace_empty_subject", v, c)
	rt := strings.ToLower(p.Str("replace_subject_type"))
	if rt == "" {
		rt = "private"
	}
	if rt != "all" && rt != "never" && rt != "private" {
		m.r.decide(p, "replace_subject_type", "%q is unknown: private (Pexip's default) is written", rt)
		rt = "private"
	}
	b.kv(4, "replace_subject", rt, "replace_subject_type "+strings.ToUpper(rt))
	if t := p.Str("replace_subject_template"); t != "" {
		g, err := TranslateJinja(t)
		if err == nil {
			_, err = rules.ParseTemplate("subject_template", g)
		}
		if err != nil {
			b.comment(4, "replace_subject_template kept as Pexip wrote it (no translation: %s):", err)
			for _, l := range strings.Split(t, "\n") {
				b.comment(4, "  %s", l)
			}
			m.r.warn(p, "replace_subject_template", "not translated (%s): kept commented out; the default subject ({{.Organizer}}) applies", err)
		} else {
			b.kv(4, "subject_template", yq(g), "replace_subject_template (Jinja2, translated)")
		}
	}
}

// ruleMap is the otj-edge rule type of each Pexip meeting type. Pexip's *teamsbody types
// (the endpoint reads the Teams invite itself) are Teams meetings to otj-edge. Pexip's two SIP
// Guest Join types keep their names: the rules engine refuses them, and its reason is reported.
var ruleMap = map[string]string{
	"pexipinfinity":          rules.TypePexip,
	"pexipservice":           rules.TypePexipService,
	"teams":                  rules.TypeTeams,
	"polyteamsbody":          rules.TypeTeams,
	"ciscoteamsbody":         rules.TypeTeams,
	"pexipserviceteamsbody":  rules.TypeTeams,
	"pexipinfinityteamsbody": rules.TypeTeams,
	"teamssipguestjoin":      rules.TypeTeamsSIPGuestJoin,
	"hangouts":               rules.TypeGoogleMeet,
	"googlemeetsipguestjoin": rules.TypeMeetSIPGuestJoin,
	"s4b":                    rules.TypeS4B,
	"webex":                  rules.TypeWebex,
	"zoom":                   rules.TypeZoom,
	"gotomeeting":            rules.TypeGoToMeeting,
	"domain":                 rules.TypeDomain,
	"regex":                  rules.TypeRegex,
	"custom":                 rules.TypeTemplate,
}

// noRuleType says why a Pexip meeting type has no otj-edge rule type.
var noRuleType = map[string]string{
	"polys4bbody": "Pexip hands a Poly endpoint the Skype for Business invite to join natively; otj-edge gives every endpoint one address to dial: an s4b rule (through your Skype for Business gateway) is the nearest",
}

// ruleKeys is what the rules engine accepts of a rule type, found by asking its own
// validation (sync/rules keeps its per-type key table to itself), so a type or key the engine
// gains or drops changes the import without a list here.
type ruleKeys struct {
	known   bool   // a rule type the engine resolves
	refused string // the engine's reason when it is not one
	domain  bool   // takes domain
	domains bool   // takes a list of domains
	pin     bool   // takes include_pin
}

func keysOf(typ string) ruleKeys {
	errOn := func(s rules.Spec, field string) string {
		s.Name, s.Type, s.Priority = "probe", typ, 1
		for _, e := range s.Validate() {
			if e.Field == field {
				return e.Msg
			}
		}
		return ""
	}
	k := ruleKeys{known: slices.Contains(rules.Types, typ)}
	if !k.known {
		k.refused = errOn(rules.Spec{}, "type")
		return k
	}
	k.domain = errOn(rules.Spec{Domain: rules.Domains{"vmr.example.com"}}, "domain") == ""
	k.domains = k.domain && errOn(rules.Spec{Domain: rules.Domains{"vmr.example.com", "vmr.example.net"}}, "domain") == ""
	k.pin = errOn(rules.Spec{IncludePIN: true}, "include_pin") == ""
	return k
}

// companyIDWhy is the engine's reason for refusing company_id.
func companyIDWhy() string {
	for _, e := range (rules.Spec{Name: "probe", Type: rules.TypeTemplate, Priority: 1, CompanyID: "x"}).Validate() {
		if e.Field == "company_id" {
			return e.Msg
		}
	}
	return "not used by otj-edge"
}

func (m *mapper) rule(r *Object, taken map[int64]bool, names map[string]bool) (*block, bool) {
	b := &block{}
	pt := strings.ToLower(r.Str("meeting_type"))
	target, mapped := ruleMap[pt]
	var keys ruleKeys
	live := true
	switch {
	case !mapped:
		target, live = pt, false
		if why := noRuleType[pt]; why != "" {
			m.r.decide(r, "meeting_type", "%s has no otj-edge rule type (%s): the rule is kept commented out", pt, why)
		} else {
			m.r.decide(r, "meeting_type", "%q is not a Pexip meeting type otj-edge knows: the rule is kept commented out", pt)
		}
	default:
		keys = keysOf(target)
		if !keys.known {
			live = false
			m.r.decide(r, "meeting_type", "%s: %s. The rule is kept commented out", pt, keys.refused)
		}
	}
	name := r.Name()
	for i := 2; names[name]; i++ {
		name = fmt.Sprintf("%s (%d)", r.Name(), i)
	}
	names[name] = true
	prio, _ := r.Int("priority")
	if prio < 1 || prio > 200 {
		m.r.decide(r, "priority", "%d is outside 1–200: written as 200", prio)
		prio = 200
	}
	if taken[prio] {
		p := prio
		for p <= 200 && taken[p] {
			p++
		}
		if p > 200 {
			for p = prio; p >= 1 && taken[p]; p-- {
			}
		}
		m.r.decide(r, "priority", "%d is shared with another rule of the profile (Pexip then applies both); otj-edge needs one rule per priority: written as %d", prio, p)
		prio = p
	}
	taken[prio] = true

	b.kv(6, "- name", yq(name), fmt.Sprintf("from mjx_meeting_processing_rule, meeting_type %s", pt))
	if d := r.Str("description"); d != "" {
		if len(d) > 250 {
			d = d[:250]
		}
		b.kv(8, "description", yq(oneLine(d)), "")
	}
	b.kv(8, "type", target, "")
	if keys.refused != "" {
		b.comment(8, "refused by otj-edge: %s", keys.refused)
	}
	b.kv(8, "priority", fmt.Sprint(prio), "")
	b.kv(8, "enabled", fmt.Sprint(r.Bool("enabled", true)), "")
	if d := strings.TrimSpace(r.Str("domain")); d != "" {
		ds := strings.FieldsFunc(d, func(c rune) bool { return c == ',' || c == ' ' || c == ';' })
		switch {
		case keys.known && !keys.domain:
			m.r.unmapped(r, "domain", fmt.Sprintf("no equivalent: otj-edge's %s rule reads the address from the invite and takes no domain", target))
		case len(ds) > 1 && (keys.domains || !keys.known):
			// A type the engine refuses gets what the export gives, for the admin to see.
			q := make([]string, len(ds))
			for i, x := range ds {
				q[i] = yq(x)
			}
			b.kv(8, "domain", "["+strings.Join(q, ", ")+"]", "domain")
		default:
			b.kv(8, "domain", yq(ds[0]), "domain")
			if len(ds) > 1 {
				m.r.decide(r, "domain", "lists %d domains; an otj-edge %s rule takes one: %s is written, add a rule per other domain (%s)", len(ds), target, ds[0], strings.Join(ds[1:], ", "))
			}
		}
	}
	if target == rules.TypeS4B {
		// Written out, so the alias the gateway is dialled at is visible and editable.
		b.kv(8, "template", yq(rules.DefaultS4BTemplate), "the alias for your Skype for Business gateway (.User .ID .Domain .ConferenceID .URL; .Gateway is domain)")
		m.r.decide(r, "meeting_type", "s4b: the room dials %s (the organizer's SIP domain); if your gateway takes calls at the rule's domain or by conference ID, edit template (e.g. {{.ConferenceID}}@{{.Gateway}})", rules.DefaultS4BTemplate)
	}
	if r.Bool("include_pin", false) {
		if keys.known && !keys.pin {
			m.r.unmapped(r, "include_pin", fmt.Sprintf("no equivalent: otj-edge's %s rule does not append a passcode", target))
		} else {
			b.kv(8, "include_pin", "true", "include_pin")
		}
	}
	if c := r.Str("company_id"); c != "" {
		if !live {
			b.kv(8, "company_id", yq(c), "company_id")
		}
		m.r.unmapped(r, "company_id", "no equivalent: Pexip Service's customer ID for SIP Guest Join; otj-edge refuses it: "+companyIDWhy())
	}
	if !r.Bool("default_processing_enabled", true) {
		r.used["default_processing_enabled"] = false
	}
	switch pt {
	case "regex":
		match, repl, err := pyRegex(r.Str("match_string"), r.Str("replace_string"))
		if err != nil {
			m.r.warn(r, "match_string", "%s: the rule is kept commented out", err)
			live = false
			b.comment(8, "match_string as Pexip wrote it (Python regex): %s", r.Str("match_string"))
		}
		b.kv(8, "match", yq(match), "match_string (Python → RE2)")
		if repl != "" {
			b.kv(8, "replace", yq(repl), "replace_string (\\1 → ${1})")
		}
	case "custom":
		src := r.Str("custom_template")
		g, err := TranslateJinja(src)
		if err == nil {
			_, err = rules.ParseTemplate(name, g)
		}
		if err != nil {
			m.r.warn(r, "custom_template", "not translated, %s: the rule is kept commented out with the original", err)
			live = false
			b.comment(8, "custom_template as Pexip wrote it (Jinja2; %s):", err)
			for _, l := range strings.Split(src, "\n") {
				b.comment(8, "  %s", l)
			}
		} else {
			b.kv(8, "template", yq(g), "custom_template (Jinja2, translated)")
		}
	default:
		for _, f := range []string{"match_string", "replace_string", "custom_template"} {
			if r.Str(f) != "" {
				r.used[f] = false
			}
		}
	}
	if t := r.Str("transform_rule"); t != "" {
		g, err := TranslateJinja(t)
		if err != nil {
			b.comment(8, "transform_rule (Jinja2, no translation: %s): %s", err, oneLine(t))
		} else {
			b.comment(8, "transform_rule translated (apply it with a template rule if needed): %s", oneLine(g))
		}
		m.r.decide(r, "transform_rule", "otj-edge rules have no step that rewrites the address a rule found: the transform is written as a comment on the rule; rebuild it as a template or regex rule if the room needs it")
	}
	return b, live
}

// pyRegex translates a Python regular expression and its replacement (Pexip's) into RE2 and
// Go's expansion syntax.
func pyRegex(match, replace string) (string, string, error) {
	if match == "" {
		return "", "", fmt.Errorf("match_string is empty")
	}
	if _, err := regexp.Compile(match); err != nil {
		return match, "", fmt.Errorf("match_string is not valid RE2 (otj-edge has no look-around or backreferences): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	var b strings.Builder
	for i := 0; i < len(replace); i++ {
		c := replace[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(replace) && replace[i+1] >= '0' && replace[i+1] <= '9':
			j := i + 1
			for j < len(replace) && j < i+3 && replace[j] >= '0' && replace[j] <= '9' {
				j++
			}
			b.WriteString("${" + replace[i+1:j] + "}")
			i = j - 1
		case c == '\\' && strings.HasPrefix(replace[i:], `\g<`):
			end := strings.IndexByte(replace[i:], '>')
			if end < 0 {
				return match, "", fmt.Errorf("replace_string: unterminated \\g<")
			}
			b.WriteString("${" + replace[i+3:i+end] + "}")
			i += end
		case c == '\\' && i+1 < len(replace):
			i++
			b.WriteByte(replace[i])
		default:
			b.WriteByte(c)
		}
	}
	return match, b.String(), nil
}
