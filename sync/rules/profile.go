package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Profile is a compiled profile: settings with defaults applied, rules sorted by priority with
// their expressions and templates compiled, disabled rules left out. It is immutable and safe
// for concurrent use.
type Profile struct {
	settings Settings
	webrtc   bool
	subject  *template.Template
	rules    []*rule
	// fallbackRule is the sip_h323_only rule that pins the fallback's place, if any.
	fallbackRule bool
}

// rule is one compiled rule.
type rule struct {
	spec    Spec
	domain  string   // lower-cased; the first of domains
	domains []string // lower-cased (a domain rule may have several)
	re      *regexp.Regexp
	tmpl    *template.Template
	eval    func(c *evalCtx, r *rule) (match, string)
	// provider rules have a position in the invite and can yield to written details (see
	// Resolve); regex, template and domain rules cannot.
	provider bool
}

// Compile checks and compiles a profile's settings and rules. Rules are sorted by priority
// (ties keep their order), disabled ones are dropped. The error lists every problem.
func Compile(settings Settings, specs []Spec) (*Profile, error) {
	var errs []error
	for _, fe := range settings.Validate() {
		errs = append(errs, fmt.Errorf("settings: %s", fe))
	}
	p := &Profile{settings: settings.WithDefaults()}
	p.webrtc = *p.settings.WebRTC
	if t, err := ParseTemplate("subject_template", p.settings.SubjectTemplate); err == nil {
		p.subject = t.Option("missingkey=zero")
	}
	for _, s := range specs {
		for _, fe := range s.Validate() {
			errs = append(errs, fmt.Errorf("rule %q: %s", s.Name, fe))
		}
		if !s.IsEnabled() {
			continue
		}
		r := &rule{spec: s, domains: s.Domain.lowered()}
		if len(r.domains) > 0 {
			r.domain = r.domains[0]
		}
		switch s.Type {
		case TypeTeams:
			r.eval, r.provider = evalTeams, true
		case TypeZoom:
			r.eval, r.provider = evalZoom, true
		case TypeWebex:
			r.eval, r.provider = evalWebex, true
		case TypeGoogleMeet:
			r.eval, r.provider = evalMeet, true
		case TypePexip:
			r.eval, r.provider = evalPexip, true
		case TypeSkype:
			r.eval, r.provider = evalSkype, true
		case TypeGoTo:
			r.eval, r.provider = evalGoTo, true
		case TypeBlueJeans:
			r.eval, r.provider = evalBlueJeans, true
		case TypeDomain:
			r.eval = evalDomain
		case TypeRegex:
			r.eval = evalRegex
			if re, err := regexp.Compile(s.Match); err == nil {
				r.re = re
			}
		case TypeTemplate:
			r.eval = evalTemplate
			if t, err := ParseTemplate(s.Name, s.Template); err == nil {
				r.tmpl = t
			}
		case TypeFallbackOnly:
			r.eval = evalFallbackRule
			p.fallbackRule = true
		default:
			compilePexipType(r) // gotomeeting, s4b, pexipservice (pexiptypes.go)
		}
		if r.eval != nil {
			p.rules = append(p.rules, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(p.rules, func(a, b *rule) int { return a.spec.Priority - b.spec.Priority })
	return p, nil
}

// Settings returns the profile's settings with defaults applied.
func (p *Profile) Settings() Settings { return p.settings }

// Status says whether a meeting is shown, and if not, why.
type Status int

// Statuses. Only Shown meetings go to endpoints; the others are reported (status page,
// `rules test`) with the meeting's Reason.
const (
	Shown          Status = iota // shown; Join tells whether it has a Join button
	Cancelled                    // the organizer cancelled it
	Declined                     // the room declined it
	Removed                      // it left the calendar (delta @removed)
	PrivateIgnored               // private, and the profile ignores private meetings
	NonVideoHidden               // no video address, and the profile hides such meetings
	OutOfWindow                  // starts after the upcoming_days window
	Invalid                      // no usable start or end time
	SeriesMaster                 // a recurring series' master: its occurrences are the meetings
)

var statusNames = [...]string{"shown", "cancelled", "declined", "removed", "private-ignored", "non-video-hidden", "out-of-window", "invalid", "series-master"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Decision is how the profile treated an event.
type Decision struct {
	Status Status
	// Tried lists every rule looked at, in order, with what it found. Filled by Explain only.
	Tried []Attempt
}

// Show reports whether the meeting goes to the room's endpoints.
func (d Decision) Show() bool { return d.Status == Shown }

// Attempt is one rule's look at an event.
type Attempt struct {
	Rule    string `json:"rule"`
	Type    string `json:"type"`
	Matched bool   `json:"matched"`
	Number  string `json:"number,omitempty"`
	Note    string `json:"note,omitempty"`
}

// match is what a rule found.
type match struct {
	number, protocol, platform string
	pos                        int // where the evidence is in doc.text (earlier = written first)
	note                       string
}

// evalCtx is one event being resolved.
type evalCtx struct {
	p     *Profile
	ev    *calendar.Event
	room  string
	d     *doc
	data  *TemplateData // built on first use
	start time.Time
	end   time.Time
	// personSkipped: the fallback passed over a sip: address of the organizer or an attendee.
	personSkipped bool
}

var docPool = sync.Pool{New: func() any { return new(doc) }}

// Resolve turns one event into the meeting a room shows. The meeting is complete whatever the
// decision (for reports); only meetings whose Decision.Show() is true go to endpoints. It is a
// pure function of its arguments: now only decides the upcoming_days window.
func (p *Profile) Resolve(room string, ev calendar.Event, now time.Time) (calendar.Meeting, Decision) {
	return p.resolve(room, &ev, now, nil)
}

// Explain is Resolve that also records every rule tried (for `rules test` and the status page).
func (p *Profile) Explain(room string, ev calendar.Event, now time.Time) (calendar.Meeting, Decision) {
	tried := []Attempt{}
	return p.resolve(room, &ev, now, &tried)
}

func (p *Profile) resolve(room string, ev *calendar.Event, now time.Time, tried *[]Attempt) (calendar.Meeting, Decision) {
	s := &p.settings
	room = strings.ToLower(strings.TrimSpace(room))
	m := calendar.Meeting{
		Room:           room,
		EventID:        ev.ID,
		ICalUID:        ev.ICalUID,
		SeriesMasterID: ev.SeriesMasterID,
		StartBuffer:    calendar.Duration(*s.StartBuffer),
		EndBuffer:      calendar.Duration(*s.EndBuffer),
		AllDay:         ev.IsAllDay,
		Organizer:      ev.OrganizerName(),
		OrganizerEmail: ev.OrganizerAddress(),
		Private:        ev.IsPrivate(),
		Tentative:      strings.EqualFold(ev.ShowAs, "tentative") || ev.ResponseStatus != nil && strings.EqualFold(ev.ResponseStatus.Response, "tentativelyAccepted"),
	}
	dec := Decision{Status: Shown}
	finish := func(st Status, reason string) (calendar.Meeting, Decision) {
		dec.Status = st
		m.Reason = reason
		if tried != nil {
			dec.Tried = *tried
		}
		return m, dec
	}

	// The subject is settled first: even a meeting that is not shown is reported, and a private
	// subject must not leak there either.
	c := &evalCtx{p: p, ev: ev, room: room}
	start, startErr := ev.StartTime()
	end, endErr := ev.EndTime()
	if startErr == nil && endErr == nil && end.Before(start) {
		end = start
	}
	c.start, c.end = start, end
	m.Subject = p.displaySubject(c)
	if startErr != nil {
		m.ID = BookingID(ev, time.Time{})
		return finish(Invalid, "start time: "+startErr.Error())
	}
	m.Start, m.End = start, end
	m.ID = BookingID(ev, start)
	if endErr != nil {
		m.End = start
		return finish(Invalid, "end time: "+endErr.Error())
	}

	switch {
	case ev.Removed != nil:
		return finish(Removed, "removed from the calendar")
	case ev.Type == calendar.TypeSeriesMaster:
		return finish(SeriesMaster, "series master: its occurrences are resolved one by one")
	case ev.IsCancelled:
		return finish(Cancelled, "cancelled by the organizer")
	case roomDeclined(ev, room):
		return finish(Declined, "declined by the room")
	case !now.IsZero() && !start.Before(now.Add(time.Duration(*s.UpcomingDays)*24*time.Hour)):
		return finish(OutOfWindow, fmt.Sprintf("starts after the upcoming_days window (%d days)", *s.UpcomingDays))
	case m.Private && s.PrivateMeetings == PrivateIgnore:
		return finish(PrivateIgnored, "private meeting: ignored by profile")
	case m.Private && s.HidePrivateAddress:
		if tried != nil {
			*tried = append(*tried, Attempt{Rule: "-", Type: "-", Note: "rules not run: the profile hides the address of private meetings"})
		}
		return finish(Shown, "private meeting: address hidden by profile")
	}

	d := docPool.Get().(*doc)
	defer func() {
		d.text = ""
		if cap(d.urls) > 1024 || cap(d.addrs) > 1024 { // do not keep an absurd event's index alive
			d.urls, d.addrs = nil, nil
		}
		docPool.Put(d)
	}()
	newDoc(ev, d)
	c.d = d

	found, name, notes := p.match(c, tried)
	if found.number != "" {
		m.Join = true
		m.Number = found.number
		m.Protocol = found.protocol
		m.Platform = found.platform
		m.Rule = name
		return finish(Shown, found.note)
	}
	reason := c.noJoinReason(notes)
	if s.NonVideoMeetings == NonVideoHide {
		return finish(NonVideoHidden, reason+" (hidden: non_video_meetings is hide)")
	}
	return finish(Shown, reason)
}

// ResolveRoom resolves every event of one room (occurrences already merged with their series
// master) and returns the meetings to show, sorted by start, one per booking ID: when two events
// map to the same ID (the same invitation twice), the one modified last wins. This is what the
// meeting processor writes with tx.ReplaceMeetings.
func (p *Profile) ResolveRoom(room string, events []calendar.Event, now time.Time) []calendar.Meeting {
	type entry struct {
		m        calendar.Meeting
		modified string
	}
	byID := make(map[string]int, len(events))
	var out []entry
	for i := range events {
		m, d := p.resolve(room, &events[i], now, nil)
		if !d.Show() {
			continue
		}
		e := entry{m, events[i].LastModified}
		if k, dup := byID[m.ID]; dup {
			o := out[k]
			if e.modified > o.modified || e.modified == o.modified && e.m.EventID > o.m.EventID {
				out[k] = e
			}
			continue
		}
		byID[m.ID] = len(out)
		out = append(out, e)
	}
	ms := make([]calendar.Meeting, len(out))
	for i, e := range out {
		ms[i] = e.m
	}
	slices.SortStableFunc(ms, func(a, b calendar.Meeting) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ms
}

// match runs the rules in priority order and then the fallback. The first match wins, with
// one exception that Pexip does not make: a Teams match that comes only from the Teams block
// Outlook appends at the end of the invite yields to another provider's join details written
// above it (or in the location), because that is what the organizer typed; the reason says so.
func (p *Profile) match(c *evalCtx, tried *[]Attempt) (match, string, []string) {
	var notes []string
	record := func(r *rule, m match, note string) {
		if tried != nil {
			a := Attempt{Rule: r.spec.Name, Type: r.spec.Type, Matched: m.number != "", Number: m.number, Note: note}
			if a.Matched {
				a.Note = m.note
			}
			*tried = append(*tried, a)
		}
	}
	for i, r := range p.rules {
		m, note := r.eval(c, r)
		if bad := badNumber(m.number); m.number != "" && bad != "" {
			m, note = match{}, bad
		}
		record(r, m, note)
		if m.number == "" {
			if note != "" {
				notes = append(notes, r.spec.Name+": "+note)
			}
			continue
		}
		if r.spec.Type == TypeTeams && m.pos > c.d.locEnd {
			// Look for details written above the appended Teams block.
			for _, o := range p.rules[i+1:] {
				if !o.provider || o.spec.Type == TypeTeams {
					continue
				}
				om, onote := o.eval(c, o)
				switch {
				case om.number == "" && onote == "":
					onote = "looked for join details written above the Teams block: none"
				case om.number != "" && om.pos >= m.pos:
					onote = "also matched, but below the start of the Teams block: the Teams match stands"
				}
				if tried != nil {
					a := Attempt{Rule: o.spec.Name, Type: o.spec.Type, Matched: om.number != "" && om.pos < m.pos, Number: om.number, Note: onote}
					if a.Matched {
						a.Note = om.note
					}
					*tried = append(*tried, a)
				}
				if om.number != "" && om.pos < m.pos {
					om.note += fmt.Sprintf("; chosen over rule %q (%s): these details are written above the Teams block Outlook added", r.spec.Name, teamsKind(m))
					return om, o.spec.Name, nil
				}
			}
		}
		return m, r.spec.Name, nil
	}
	if !p.fallbackRule {
		m := fallback(c)
		if tried != nil {
			a := Attempt{Rule: "fallback", Type: "fallback", Matched: m.number != "", Number: m.number, Note: m.note}
			if m.number == "" {
				a.Note = "no sip:, sips: or h323: address in the location or body"
			}
			*tried = append(*tried, a)
		}
		if m.number != "" {
			return m, "fallback", nil
		}
	}
	return match{}, "", notes
}

func teamsKind(m match) string {
	if m.protocol == "WebRTC" {
		return "Teams WebRTC"
	}
	return "Teams CVI"
}

// noJoinReason explains why an event has no join address.
func (c *evalCtx) noJoinReason(notes []string) string {
	d := c.d
	ev := c.ev
	var parts []string
	bodyEmpty := strings.TrimSpace(d.body()) == ""
	online := ev.IsOnlineMeeting || strings.HasPrefix(strings.ToLower(ev.OnlineMeetingProvider), "teams") || strings.EqualFold(ev.OnlineMeetingProvider, "skypeForBusiness")
	if bodyEmpty && online {
		parts = append(parts, "body removed by the room mailbox (Set-CalendarProcessing -DeleteComments $false keeps invite text)")
	} else {
		parts = append(parts, "no rule matched and no sip:/h323: address")
	}
	seen := map[string]bool{}
	for _, n := range notes {
		if !seen[n] {
			seen[n] = true
			parts = append(parts, n)
		}
	}
	if c.personSkipped {
		parts = append(parts, "a sip: address of the organizer or an attendee was skipped (a presence address, not a meeting)")
	}
	if len(d.mimecast) > 0 {
		hosts := []string{}
		for _, h := range d.mimecast {
			if h != "" && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		msg := "links rewritten by Mimecast URL Protect cannot be decoded offline"
		if len(hosts) > 0 {
			msg += " (" + strings.Join(hosts, ", ") + " behind them)"
		}
		parts = append(parts, msg+"; ask the mail team to exempt the meeting providers from rewriting")
	}
	if d.truncated {
		parts = append(parts, fmt.Sprintf("only the first %d MiB of the body were read", maxBodyBytes>>20))
	}
	if d.capped {
		parts = append(parts, fmt.Sprintf("only the first %d links and addresses were considered", maxIndexed))
	}
	if !bodyEmpty && len(notes) == 0 && len(d.mimecast) == 0 && (d.hasTel || hasPhoneNumber(d.body())) {
		parts = append(parts, "only phone dial-in found (audio conference)")
	}
	return strings.Join(parts, "; ")
}

// hasPhoneNumber reports a "+<country code> …" number with at least 8 digits.
func hasPhoneNumber(s string) bool {
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], '+')
		if k < 0 {
			return false
		}
		j := i + k + 1
		digits := 0
		for j < len(s) && j-(i+k) < 32 {
			c := s[j]
			if isDigit(c) {
				digits++
			} else if c != ' ' && c != '-' && c != '(' && c != ')' && c != '.' {
				break
			}
			j++
		}
		if digits >= 8 {
			return true
		}
		i += k + 1
	}
	return false
}

// roomDeclined reports whether the room declined the event: the mailbox's own response, or
// its entry among the attendees.
func roomDeclined(ev *calendar.Event, room string) bool {
	if ev.ResponseStatus != nil && strings.EqualFold(ev.ResponseStatus.Response, "declined") {
		return true
	}
	if room == "" {
		return false
	}
	for _, a := range ev.Attendees {
		if strings.EqualFold(a.EmailAddress.Address, room) && a.Status != nil && strings.EqualFold(a.Status.Response, "declined") {
			return true
		}
	}
	return false
}

// displaySubject applies the subject settings.
func (p *Profile) displaySubject(c *evalCtx) string {
	s := &p.settings
	subject := strings.TrimSpace(c.ev.Subject)
	private := c.ev.IsPrivate()
	if s.ReplaceSubject == ReplaceAll || s.ReplaceSubject == ReplacePrivate && private {
		if p.subject != nil {
			out, err := execTemplate(p.subject, c.templateData())
			if err == nil {
				subject = out
			} else if private {
				subject = "" // never show a private subject because the template failed
			}
		}
	}
	if subject == "" && *s.ReplaceEmptySubject {
		subject = c.ev.OrganizerName()
	}
	return subject
}

// maxTemplateOutput bounds what a template may produce.
const maxTemplateOutput = 4096

type limitedWriter struct {
	b []byte
}

var errTemplateOutput = fmt.Errorf("template output is longer than %d bytes", maxTemplateOutput)

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > maxTemplateOutput {
		return 0, errTemplateOutput
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// execTemplate runs t and returns its trimmed output.
func execTemplate(t *template.Template, data *TemplateData) (string, error) {
	var w limitedWriter
	if err := t.Execute(&w, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(w.b)), nil
}

// TemplateData is what subject templates and template rules see (as {{.Field}}).
type TemplateData struct {
	Subject        string    // the subject as the organizer wrote it
	Organizer      string    // the organizer's display name (or address)
	OrganizerEmail string    // the organizer's address
	Location       string    // every location, one per line
	Body           string    // the invite as text: HTML converted, link targets inline as <URL>, rewritten links unwrapped
	BodyHTML       string    // the body exactly as received
	JoinURL        string    // onlineMeeting.joinUrl (Teams)
	Private        bool      // marked private or confidential
	Start, End     time.Time // UTC
	Room           string    // the room mailbox

	d                *doc
	links, addresses []string
}

// Links lists every link in the location and body, unwrapped, in order ({{range .Links}}).
func (t *TemplateData) Links() []string {
	if t.links == nil && t.d != nil {
		t.links = make([]string, 0, len(t.d.urls))
		for _, u := range t.d.urls {
			t.links = append(t.links, t.d.url(u))
		}
	}
	return t.links
}

// Addresses lists every user@host in the location and body, in order ({{range .Addresses}}).
func (t *TemplateData) Addresses() []string {
	if t.addresses == nil && t.d != nil {
		t.addresses = make([]string, 0, len(t.d.addrs))
		for _, a := range t.d.addrs {
			if !a.inURL {
				t.addresses = append(t.addresses, t.d.address(a))
			}
		}
	}
	return t.addresses
}

// templateData builds the template view of the event on first use.
func (c *evalCtx) templateData() *TemplateData {
	if c.data != nil {
		return c.data
	}
	ev := c.ev
	t := &TemplateData{
		Subject:        ev.Subject,
		Organizer:      ev.OrganizerName(),
		OrganizerEmail: ev.OrganizerAddress(),
		Location:       ev.LocationText(),
		BodyHTML:       ev.BodyText(),
		Private:        ev.IsPrivate(),
		Start:          c.start,
		End:            c.end,
		Room:           c.room,
	}
	if ev.OnlineMeeting != nil {
		t.JoinURL = ev.OnlineMeeting.JoinURL
	}
	if d := c.d; d != nil { // a subject template may run before the body is read: build again then
		t.Body = d.body()
		t.d = d
		c.data = t
	}
	return t
}

// maxBookingID is the longest booking ID Cisco accepts (Bookings Get/Delete take 1–128).
const maxBookingID = 128

// BookingID is the stable ID of one occurrence: the iCalUId (the Graph id when there is none)
// and the occurrence start, or a SHA-256 of them when that is longer than 128 characters.
func BookingID(ev *calendar.Event, start time.Time) string {
	base := ev.ICalUID
	if base == "" {
		base = ev.ID
	}
	id := base + "@" + start.UTC().Format("20060102T150405Z")
	if len(id) <= maxBookingID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "otj-" + hex.EncodeToString(sum[:24])
}

// Report is the JSON form of a resolved meeting that `otj-edge rules test` prints and the
// golden corpus records.
type Report struct {
	Rule      string    `json:"rule"`
	Platform  string    `json:"platform"`
	Protocol  string    `json:"protocol"`
	Number    string    `json:"number"`
	Join      bool      `json:"join"`
	Subject   string    `json:"subject"`
	Reason    string    `json:"reason"`
	Shown     bool      `json:"shown"`
	Status    string    `json:"status"`
	Organizer string    `json:"organizer,omitempty"`
	Private   bool      `json:"private,omitempty"`
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	JoinFrom  time.Time `json:"join_from"`
	JoinUntil time.Time `json:"join_until"`
	Tried     []Attempt `json:"tried,omitempty"`
}

// NewReport summarises a resolved meeting and its decision.
func NewReport(m calendar.Meeting, d Decision) Report {
	return Report{
		Rule: m.Rule, Platform: m.Platform, Protocol: m.Protocol, Number: m.Number, Join: m.Join,
		Subject: m.Subject, Reason: m.Reason, Shown: d.Show(), Status: d.Status.String(),
		Organizer: m.Organizer, Private: m.Private, ID: m.ID, Start: m.Start, End: m.End,
		JoinFrom: m.JoinFrom(), JoinUntil: m.JoinUntil(), Tried: d.Tried,
	}
}
