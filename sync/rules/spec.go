// Package rules turns a calendar event into a resolved meeting for a room: the subject to show,
// the address to dial, the protocol and platform, and why. It follows Pexip's meeting
// processing rules and settings (README "Meeting processing rules"). Everything here is a pure function of
// (event, profile, clock): no I/O.
//
// The meeting processor uses it like this (a compiled Profile is immutable and safe for
// concurrent use; compile once per config load):
//
//	prof, err := cfg.Profile(room.Profile).Compile() // or rules.Compile(settings, specs)
//	meetings := prof.ResolveRoom(room.Mailbox, events, clock.Now())
//	err = s.Write(ctx, func(tx *store.Tx) error { _, err := stored.ReplaceMeetings(tx, room.Mailbox, meetings); return err })
//
// Resolve (one event, with a Decision saying whether and why it is shown) and Explain (the
// same, with every rule's finding) serve reports and `otj-edge rules test`.
//
// Files: spec.go is the configuration side (profile settings and rule specs as the YAML config
// spells them, defaults, validation); profile.go compiles and resolves; normalize.go, unwrap.go
// and doc.go turn an invite into indexed text; teams.go and providers.go are the rule types.
package rules

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Private-meeting handling (Pexip's enable_private_meetings).
const (
	PrivateProcess = "process" // private meetings are shown (subject per replace_subject)
	PrivateIgnore  = "ignore"  // private meetings are not shown at all
)

// Subject replacement (Pexip's replace_subject_type).
const (
	ReplaceNever   = "never"
	ReplacePrivate = "private"
	ReplaceAll     = "all"
)

// Meetings without a video address (Pexip's enable_non_video_meetings).
const (
	NonVideoShow = "show" // shown as booked, without a Join button
	NonVideoHide = "hide" // not shown
)

// Settings are a profile's meeting processing settings, with Pexip's semantics.
type Settings struct {
	// StartBuffer is how long before the start the Join button appears (Pexip default 5 min).
	StartBuffer *time.Duration `yaml:"start_buffer"`
	// EndBuffer is how long after the end the meeting stays joinable (default 0).
	EndBuffer *time.Duration `yaml:"end_buffer"`
	// UpcomingDays is how many days ahead meetings are synced and shown (default 7).
	UpcomingDays *int `yaml:"upcoming_days"`
	// PrivateMeetings is "process" (default) or "ignore".
	PrivateMeetings string `yaml:"private_meetings"`
	// HidePrivateAddress: private meetings are shown without an address, so no Join button.
	HidePrivateAddress bool `yaml:"hide_private_address"`
	// ReplaceSubject is "never", "private" (default) or "all": which meetings get their
	// subject replaced by SubjectTemplate.
	ReplaceSubject string `yaml:"replace_subject"`
	// SubjectTemplate is a Go text/template over the event; default "{{.Organizer}}".
	SubjectTemplate string `yaml:"subject_template"`
	// ReplaceEmptySubject shows the organizer's name when the subject is empty (default true).
	ReplaceEmptySubject *bool `yaml:"replace_empty_subject"`
	// NonVideoMeetings is "show" (default: booked, no Join) or "hide".
	NonVideoMeetings string `yaml:"non_video_meetings"`
	// WebRTC lets Teams and Google Meet meetings without a SIP address be joined with the
	// browser engine of WebRTC-capable codecs (native join URL); default true.
	WebRTC *bool `yaml:"webrtc"`
}

// Defaults as Pexip ships them.
const (
	DefaultStartBuffer  = 5 * time.Minute
	DefaultEndBuffer    = 0
	DefaultUpcomingDays = 7
	DefaultSubject      = "{{.Organizer}}"
)

// WithDefaults returns a copy with every unset field at its default.
func (s Settings) WithDefaults() Settings {
	if s.StartBuffer == nil {
		v := DefaultStartBuffer
		s.StartBuffer = &v
	}
	if s.EndBuffer == nil {
		v := time.Duration(DefaultEndBuffer)
		s.EndBuffer = &v
	}
	if s.UpcomingDays == nil {
		v := DefaultUpcomingDays
		s.UpcomingDays = &v
	}
	if s.PrivateMeetings == "" {
		s.PrivateMeetings = PrivateProcess
	}
	if s.ReplaceSubject == "" {
		s.ReplaceSubject = ReplacePrivate
	}
	if s.SubjectTemplate == "" {
		s.SubjectTemplate = DefaultSubject
	}
	if s.ReplaceEmptySubject == nil {
		v := true
		s.ReplaceEmptySubject = &v
	}
	if s.NonVideoMeetings == "" {
		s.NonVideoMeetings = NonVideoShow
	}
	if s.WebRTC == nil {
		v := true
		s.WebRTC = &v
	}
	return s
}

// FieldError is a problem with one field of a settings block or rule.
type FieldError struct {
	Field string // YAML key, e.g. "match"
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate reports every problem with the settings (none when the slice is empty).
func (s Settings) Validate() []FieldError {
	var errs []FieldError
	if s.StartBuffer != nil && (*s.StartBuffer < 0 || *s.StartBuffer > 3*time.Hour) {
		errs = append(errs, FieldError{"start_buffer", fmt.Sprintf("%s is outside 0–3h", *s.StartBuffer)})
	}
	if s.EndBuffer != nil && (*s.EndBuffer < 0 || *s.EndBuffer > 3*time.Hour) {
		errs = append(errs, FieldError{"end_buffer", fmt.Sprintf("%s is outside 0–3h", *s.EndBuffer)})
	}
	if s.UpcomingDays != nil && (*s.UpcomingDays < 0 || *s.UpcomingDays > 365) {
		errs = append(errs, FieldError{"upcoming_days", fmt.Sprintf("%d is outside 0–365", *s.UpcomingDays)})
	}
	if !oneOf(s.PrivateMeetings, "", PrivateProcess, PrivateIgnore) {
		errs = append(errs, FieldError{"private_meetings", fmt.Sprintf("%q is not one of process, ignore", s.PrivateMeetings)})
	}
	if !oneOf(s.ReplaceSubject, "", ReplaceNever, ReplacePrivate, ReplaceAll) {
		errs = append(errs, FieldError{"replace_subject", fmt.Sprintf("%q is not one of never, private, all", s.ReplaceSubject)})
	}
	if !oneOf(s.NonVideoMeetings, "", NonVideoShow, NonVideoHide) {
		errs = append(errs, FieldError{"non_video_meetings", fmt.Sprintf("%q is not one of show, hide", s.NonVideoMeetings)})
	}
	if s.SubjectTemplate != "" {
		if _, err := ParseTemplate("subject_template", s.SubjectTemplate); err != nil {
			errs = append(errs, FieldError{"subject_template", err.Error()})
		}
	}
	return errs
}

// Rule types. The built-in ones know the invite formats of their provider; regex, template
// and domain are configured by the admin.
const (
	TypeTeams        = "teams"         // Microsoft Teams: CVI block (any provider) → SIP, else native join URL (WebRTC)
	TypeZoom         = "zoom"          // <id>@zoomcrc.com (include_pin → <id>.<passcode>@zoomcrc.com)
	TypeWebex        = "webex"         // <number>@<site>.webex.com and personal rooms
	TypeGoogleMeet   = "google_meet"   // meet.google.com codes: WebRTC URL, SIP via the rule's domain (interop)
	TypePexip        = "pexip"         // Pexip Infinity / Service VMRs
	TypeSkype        = "skype"         // Skype for Business
	TypeGoTo         = "goto"          // GoTo Meeting
	TypeBlueJeans    = "bluejeans"     // <id>[.<pin>]@bjn.vc
	TypeDomain       = "domain"        // any URI at Domain
	TypeRegex        = "regex"         // RE2 Match → Replace
	TypeTemplate     = "template"      // Go text/template over the event
	TypeFallbackOnly = "sip_h323_only" // only the fallback (sip:/sips:/h323: anywhere); useful to pin its priority

	// Pexip's own type names (pexiptypes.go), so a Pexip profile carries over name for name.
	TypeGoToMeeting  = "gotomeeting"  // GoTo room-system lines: <id>@<ip> (SIP) or <ip>##<id> (H323); domain → <id>@<domain>
	TypeS4B          = "s4b"          // Skype for Business Server meetings through a gateway, alias from a template
	TypePexipService = "pexipservice" // Pexip Service VMR aliases (…@<x>.onpexip.com, pexip.me, or the rule's hosted domain)
)

// Pexip meeting types otj-edge refuses, with the reason (Validate reports it on the type key).
const (
	TypeTeamsSIPGuestJoin = "teamssipguestjoin"
	TypeMeetSIPGuestJoin  = "googlemeetsipguestjoin"
)

// refusedTypes says why a Pexip type is not offered: building its alias would be a guess that
// sends rooms to a wrong address.
var refusedTypes = map[string]string{
	TypeTeamsSIPGuestJoin: "Pexip's SIP Guest Join for Teams is not supported: Pexip does not publish how its guest-join alias encodes another organization's Teams meeting (nor where company_id goes); use a teams rule (CVI when the organizer has it, else the join link by WebRTC), or a template rule that builds your guest-join address",
	TypeMeetSIPGuestJoin:  "Pexip's SIP Guest Join for Google Meet is not supported: Pexip does not publish how its guest-join alias encodes another organization's Meet meeting code; use a google_meet rule (WebRTC, or your interop gateway's printed <id>@<domain> address with domain:), or a template rule that builds your guest-join address",
}

// Types lists every rule type in documentation order.
var Types = []string{TypeTeams, TypeZoom, TypeWebex, TypeGoogleMeet, TypePexip, TypeSkype, TypeGoTo,
	TypeBlueJeans, TypeDomain, TypeRegex, TypeTemplate, TypeFallbackOnly, TypeGoToMeeting, TypeS4B, TypePexipService}

// Spec is one meeting processing rule as configured.
type Spec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	Priority    int    `yaml:"priority"` // 1–200; lower is tried first
	Enabled     *bool  `yaml:"enabled"`  // default true
	// Domain is the video domain the rule is tied to: the CVI/VTC domain for Teams, the
	// target of a domain rule (one or a list), the Pexip VMR domain, the gateway of s4b.
	Domain Domains `yaml:"domain"`
	// IncludePIN appends the meeting passcode to the alias (Zoom, BlueJeans).
	IncludePIN bool `yaml:"include_pin"`
	// CompanyID is added to SIP guest join aliases (Pexip Service customer id).
	CompanyID string `yaml:"company_id"`
	// Match and Replace are an RE2 regular expression and its replacement ($1, ${name}).
	Match   string `yaml:"match"`
	Replace string `yaml:"replace"`
	// Template is a Go text/template over the event; its output (trimmed) is the address.
	// For s4b rules it is over the meeting's parts (S4BData) instead.
	Template string `yaml:"template"`
	// Protocol and Platform label what regex, template and domain rules produce
	// (defaults SIP and Other).
	Protocol string `yaml:"protocol"`
	Platform string `yaml:"platform"`
}

// IsEnabled reports whether the rule takes part in matching.
func (r Spec) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// Limits on rule fields (Pexip's, where it has one).
const (
	maxNameLen     = 250
	maxTemplateLen = 10240
)

// ruleKeys says which optional keys each rule type uses, so a key that would be silently
// ignored is reported instead.
var ruleKeys = map[string]struct {
	domain, includePIN bool
	domains            bool     // domain may be a list
	template           bool     // template is used
	protocols          []string // allowed values of protocol ("" = key not used)
	platform           bool
}{
	TypeTeams:        {domain: true},
	TypeZoom:         {domain: true, includePIN: true, protocols: []string{"SIP", "H323"}},
	TypeWebex:        {protocols: []string{"SIP", "Spark"}},
	TypeGoogleMeet:   {domain: true},
	TypePexip:        {domain: true},
	TypeSkype:        {},
	TypeGoTo:         {protocols: []string{"SIP", "H323"}},
	TypeBlueJeans:    {includePIN: true},
	TypeDomain:       {domain: true, domains: true, protocols: []string{"SIP", "H323", "WebRTC", "Spark"}, platform: true},
	TypeRegex:        {protocols: []string{"SIP", "H323", "WebRTC", "Spark"}, platform: true},
	TypeTemplate:     {template: true, protocols: []string{"SIP", "H323", "WebRTC", "Spark"}, platform: true},
	TypeFallbackOnly: {},
	TypeGoToMeeting:  {domain: true, protocols: []string{"SIP", "H323"}},
	TypeS4B:          {domain: true, template: true},
	TypePexipService: {domain: true},
}

// typesWith lists the rule types for which pred holds, for error messages.
func typesWith(pred func(t string) bool) string {
	var out []string
	for _, t := range Types {
		if pred(t) {
			out = append(out, t)
		}
	}
	return strings.Join(out, ", ")
}

// Validate reports every problem with the rule (none when the slice is empty).
func (r Spec) Validate() []FieldError {
	var errs []FieldError
	if strings.TrimSpace(r.Name) == "" {
		errs = append(errs, FieldError{"name", "is required"})
	} else if len(r.Name) > maxNameLen {
		errs = append(errs, FieldError{"name", fmt.Sprintf("is %d characters long; at most %d", len(r.Name), maxNameLen)})
	}
	if len(r.Description) > maxNameLen {
		errs = append(errs, FieldError{"description", fmt.Sprintf("is %d characters long; at most %d", len(r.Description), maxNameLen)})
	}
	if r.Priority < 1 || r.Priority > 200 {
		errs = append(errs, FieldError{"priority", fmt.Sprintf("%d is outside 1–200", r.Priority)})
	}
	keys, known := ruleKeys[r.Type]
	if why, refused := refusedTypes[r.Type]; refused {
		errs = append(errs, FieldError{"type", why})
	} else if !known {
		errs = append(errs, FieldError{"type", fmt.Sprintf("%q is not a rule type (one of %s)", r.Type, strings.Join(Types, ", "))})
	}
	if r.Protocol != "" && !oneOf(r.Protocol, "SIP", "H323", "WebRTC", "Spark") {
		errs = append(errs, FieldError{"protocol", fmt.Sprintf("%q is not one of SIP, H323, WebRTC, Spark", r.Protocol)})
	} else if r.Protocol != "" && known && !oneOf(r.Protocol, keys.protocols...) {
		if len(keys.protocols) == 0 {
			errs = append(errs, FieldError{"protocol", fmt.Sprintf("does not apply to %s rules (the rule type decides the protocol)", r.Type)})
		} else {
			errs = append(errs, FieldError{"protocol", fmt.Sprintf("%q does not apply to %s rules (one of %s)", r.Protocol, r.Type, strings.Join(keys.protocols, ", "))})
		}
	}
	if r.Platform != "" && !oneOf(r.Platform, "MicrosoftTeams", "Zoom", "Webex", "GoogleMeet", "Other") {
		errs = append(errs, FieldError{"platform", fmt.Sprintf("%q is not one of MicrosoftTeams, Zoom, Webex, GoogleMeet, Other", r.Platform)})
	} else if r.Platform != "" && known && !keys.platform {
		errs = append(errs, FieldError{"platform", fmt.Sprintf("does not apply to %s rules (only to %s)", r.Type, typesWith(func(t string) bool { return ruleKeys[t].platform }))})
	}
	switch r.Type {
	case TypeRegex:
		if r.Match == "" {
			errs = append(errs, FieldError{"match", "is required for a regex rule"})
		} else if _, err := regexp.Compile(r.Match); err != nil {
			errs = append(errs, FieldError{"match", "not a valid RE2 expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")})
		} else if re := regexp.MustCompile(r.Match); r.Replace != "" {
			if msg := checkReplace(re, r.Replace); msg != "" {
				errs = append(errs, FieldError{"replace", msg})
			}
		}
	case TypeTemplate:
		if r.Template == "" {
			errs = append(errs, FieldError{"template", "is required for a template rule"})
		} else if len(r.Template) > maxTemplateLen {
			errs = append(errs, FieldError{"template", fmt.Sprintf("is %d characters long; at most %d", len(r.Template), maxTemplateLen)})
		} else if _, err := ParseTemplate(r.Name, r.Template); err != nil {
			errs = append(errs, FieldError{"template", err.Error()})
		}
	case TypeS4B:
		if msg := checkS4BTemplate(r.Template); msg != "" {
			errs = append(errs, FieldError{"template", msg})
		}
	case TypeDomain:
		if len(r.Domain.lowered()) == 0 {
			errs = append(errs, FieldError{"domain", "is required for a domain rule (one domain or a list)"})
		}
	}
	if len(r.Domain) > 0 {
		switch {
		case known && !keys.domain:
			errs = append(errs, FieldError{"domain", fmt.Sprintf("does not apply to %s rules (only to %s)", r.Type, typesWith(func(t string) bool { return ruleKeys[t].domain }))})
		case known && !keys.domains && len(r.Domain) > 1:
			errs = append(errs, FieldError{"domain", fmt.Sprintf("%s rules take one domain, not a list (only %s rules take a list)", r.Type, typesWith(func(t string) bool { return ruleKeys[t].domains }))})
		default:
			for _, dom := range r.Domain {
				if msg := checkDomain(dom); msg != "" {
					errs = append(errs, FieldError{"domain", msg})
				}
			}
		}
	}
	if r.IncludePIN && known && !keys.includePIN {
		errs = append(errs, FieldError{"include_pin", fmt.Sprintf("does not apply to %s rules (only to %s)", r.Type, typesWith(func(t string) bool { return ruleKeys[t].includePIN }))})
	}
	if r.CompanyID != "" {
		// Pexip uses company_id for Teams and Google Meet "SIP Guest Join" through the Pexip
		// Service. The alias format of guest join is not published, so building one would be a
		// guess that sends rooms to a wrong address; refuse the key rather than ignore it.
		errs = append(errs, FieldError{"company_id", "SIP Guest Join is not supported: Pexip does not publish its alias format; write a template rule that builds your guest-join address instead"})
	}
	if r.Type != TypeRegex && r.Match != "" {
		errs = append(errs, FieldError{"match", "only applies to regex rules"})
	}
	if r.Type != TypeRegex && r.Replace != "" {
		errs = append(errs, FieldError{"replace", "only applies to regex rules"})
	}
	if known && !keys.template && r.Template != "" {
		errs = append(errs, FieldError{"template", "only applies to template and s4b rules"})
	}
	return errs
}

// checkDomain reports what is wrong with a rule's domain ("" when it is a host name or IPv4
// address such as vmr.example.com).
func checkDomain(d string) string {
	switch {
	case strings.Contains(d, "://"):
		return fmt.Sprintf("%q: give the domain only, without a scheme (e.g. vmr.example.com)", d)
	case strings.Contains(d, "@"):
		return fmt.Sprintf("%q: give the domain only, the part after @ (e.g. vmr.example.com)", d)
	case len(d) > 253:
		return fmt.Sprintf("is %d characters long; a domain has at most 253", len(d))
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q is not a fully qualified domain (e.g. vmr.example.com)", d)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Sprintf("%q is not a domain: empty or over-long label", d)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("%q is not a domain: %q is not allowed (letters, digits, - and . only)", d, string(rune(c)))
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("%q is not a domain: a label starts or ends with -", d)
		}
	}
	return ""
}

// checkReplace reports a replacement that names a group the expression does not have, which
// RE2 would silently expand to nothing.
func checkReplace(re *regexp.Regexp, repl string) string {
	names := map[string]bool{}
	for i, n := range re.SubexpNames() {
		names[fmt.Sprint(i)] = true
		if n != "" {
			names[n] = true
		}
	}
	for i := 0; i < len(repl); i++ {
		if repl[i] != '$' || i+1 >= len(repl) {
			continue
		}
		rest := repl[i+1:]
		if rest[0] == '$' {
			i++
			continue
		}
		var name string
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return fmt.Sprintf("%q: ${ without a closing }", repl)
			}
			name = rest[1:end]
		} else {
			j := 0
			for j < len(rest) && (rest[j] == '_' || rest[j] >= '0' && rest[j] <= '9' || rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
				j++
			}
			name = rest[:j]
		}
		if name != "" && !names[name] {
			groups := fmt.Sprintf("%d groups", re.NumSubexp())
			if re.NumSubexp() == 1 {
				groups = "1 group"
			}
			return fmt.Sprintf("%q refers to group $%s, which the match expression does not have (it has %s)", repl, name, groups)
		}
	}
	return ""
}

// ParseTemplate parses a rule or subject template with the safe function set.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(TemplateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("not a valid template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return t, nil
}

// TemplateFuncs is the small set of functions templates may call: string handling and RE2
// matching only, nothing that reaches outside the event.
var TemplateFuncs = template.FuncMap{
	"lower":     strings.ToLower,
	"upper":     strings.ToUpper,
	"trim":      strings.TrimSpace,
	"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
	"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
	"hasSuffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	"default": func(def, s string) string {
		if strings.TrimSpace(s) == "" {
			return def
		}
		return s
	},
	// find returns the first match of the RE2 expression (or its first group, when it has one).
	"find": func(expr, s string) (string, error) {
		re, err := cachedRegexp(expr)
		if err != nil {
			return "", err
		}
		m := re.FindStringSubmatch(s)
		switch {
		case m == nil:
			return "", nil
		case len(m) > 1:
			return m[1], nil
		default:
			return m[0], nil
		}
	},
	// sub replaces every match of the RE2 expression.
	"sub": func(expr, repl, s string) (string, error) {
		re, err := cachedRegexp(expr)
		if err != nil {
			return "", err
		}
		return re.ReplaceAllString(s, repl), nil
	},
}

// regexpCache keeps the expressions templates pass to find and sub compiled: a template runs
// for every event, and compiling costs far more than matching. It is bounded because an
// expression may come from event data.
var regexpCache = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

const regexpCacheMax = 256

func cachedRegexp(expr string) (*regexp.Regexp, error) {
	regexpCache.Lock()
	re, ok := regexpCache.m[expr]
	regexpCache.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	regexpCache.Lock()
	if len(regexpCache.m) >= regexpCacheMax {
		clear(regexpCache.m)
	}
	regexpCache.m[expr] = re
	regexpCache.Unlock()
	return re, nil
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}
