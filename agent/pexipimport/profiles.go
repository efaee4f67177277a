package pexipimport

import (
	"fmt"
	"regexp"
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
				live = m.liveInteg[d]
				break
			}
		}
		if !live {
			b.comment(4, "no integration this build can load: the profile is kept commented out")
			m.r.decide(p, "", "its integration is missing or commented out: the profile, its rules and its endpoints are written commented out")
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
			m.r.imported("profile %s with %d rules from %s", n, len(rs), label(p))
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

// ruleMap says which otj-edge rule type carries a Pexip meeting type: the first of targets
// the build knows. The later names are today's equivalents; the first, where it differs, is
// the name issue 21's rules branch gives the type.
var ruleMap = map[string][]string{
	"pexipinfinity":          {"pexip"},
	"pexipservice":           {"pexipservice", "pexip"},
	"teams":                  {"teams"},
	"polyteamsbody":          {"teams"},
	"ciscoteamsbody":         {"teams"},
	"pexipserviceteamsbody":  {"teams"},
	"pexipinfinityteamsbody": {"teams"},
	"teamssipguestjoin":      {"teamssipguestjoin"},
	"hangouts":               {"google_meet"},
	"googlemeetsipguestjoin": {"googlemeetsipguestjoin"},
	"s4b":                    {"s4b", "skype"},
	"polys4bbody":            {"polys4bbody"},
	"webex":                  {"webex"},
	"zoom":                   {"zoom"},
	"gotomeeting":            {"gotomeeting", "goto"},
	"domain":                 {"domain"},
	"regex":                  {"regex"},
	"custom":                 {"template"},
}

// Keys today's rule types take (sync/rules); a type this table does not know (a newer one)
// gets what the export gives and the loader judges.
var takesDomain = map[string]bool{"teams": true, "zoom": true, "google_meet": true, "pexip": true, "domain": true}
var takesPIN = map[string]bool{"zoom": true, "bluejeans": true}

func (m *mapper) rule(r *Object, taken map[int64]bool, names map[string]bool) (*block, bool) {
	b := &block{}
	pt := strings.ToLower(r.Str("meeting_type"))
	var target string
	for _, t := range ruleMap[pt] {
		if m.has(m.caps.RuleTypes, t) {
			target = t
			break
		}
	}
	live := target != ""
	if !live {
		if ts := ruleMap[pt]; len(ts) > 0 {
			target = ts[0]
			m.r.decide(r, "meeting_type", "%s has no rule type in this build (%s comes with issue 21's rules branch): the rule is kept commented out", pt, target)
		} else {
			target = pt
			m.r.decide(r, "meeting_type", "%q is not a Pexip meeting type otj-edge knows: the rule is kept commented out", pt)
		}
	}
	known := func(t string) bool {
		return t == "teams" || t == "zoom" || t == "webex" || t == "google_meet" || t == "pexip" || t == "skype" || t == "goto" || t == "bluejeans" || t == "domain" || t == "regex" || t == "template"
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
	b.kv(8, "priority", fmt.Sprint(prio), "")
	b.kv(8, "enabled", fmt.Sprint(r.Bool("enabled", true)), "")
	if d := strings.TrimSpace(r.Str("domain")); d != "" {
		ds := strings.FieldsFunc(d, func(c rune) bool { return c == ',' || c == ' ' || c == ';' })
		switch {
		case known(target) && !takesDomain[target]:
			m.r.unmapped(r, "domain", fmt.Sprintf("no equivalent: otj-edge's %s rule reads the address from the invite and takes no domain", target))
		default:
			b.kv(8, "domain", yq(ds[0]), "domain")
			if len(ds) > 1 {
				m.r.decide(r, "domain", "lists %d domains; an otj-edge rule takes one: %s is written, add a rule per other domain (%s)", len(ds), ds[0], strings.Join(ds[1:], ", "))
			}
		}
	}
	if r.Bool("include_pin", false) {
		if known(target) && !takesPIN[target] {
			m.r.unmapped(r, "include_pin", fmt.Sprintf("no equivalent: otj-edge's %s rule does not append a passcode", target))
		} else {
			b.kv(8, "include_pin", "true", "include_pin")
		}
	}
	if c := r.Str("company_id"); c != "" && !known(target) && strings.Contains(target, "guestjoin") {
		b.kv(8, "company_id", yq(c), "company_id")
		if !live {
			r.used["company_id"] = false // reported: nothing in this build carries it
		}
	} else if c != "" {
		r.used["company_id"] = false // reported with its reason as unmapped
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
