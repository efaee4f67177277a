package web

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// DeviceState is one of a room's endpoints as the rooms list shows it.
type DeviceState struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	Level  string `json:"level"` // ok, pending, warning or error
}

// Problem is one cause and everything it affects: rooms whose sync fails the same way, rooms
// whose mailboxes have the same wrong settings, endpoints that fail the same way, or a
// component. The status page and `otj-edge doctor` list problems, worst first, each once.
type Problem struct {
	Level string `json:"level"` // error, warning or info (info is never counted as a problem)
	// Kind is calendar (sync), mailbox (calendar processing), endpoint or component.
	Kind string `json:"kind"`
	// Cause says what is wrong in a few words ("Graph 503", "unreachable").
	Cause string `json:"cause"`
	// State is the members' sync status or endpoint state, when they have one.
	State string `json:"state,omitempty"`
	// Summary is the one line: "19 rooms: Graph 503", "codec-a (room-a@…): unreachable".
	Summary string `json:"summary"`
	// Since is when it started, as far as the store knows: the last time any of the rooms
	// synced, or any of the endpoints answered. Zero when unknown.
	Since   time.Time `json:"since,omitzero"`
	Detail  string    `json:"detail,omitempty"` // the first member's detail
	Advice  string    `json:"advice,omitempty"`
	Command string    `json:"command,omitempty"` // commands to check or fix it, one per line
	// Rooms counts the rooms affected: the impact it is sorted by.
	Rooms   int             `json:"rooms"`
	Members []ProblemMember `json:"members"`
}

// ProblemMember is one room, endpoint or component a problem affects.
type ProblemMember struct {
	Name   string `json:"name"`
	Room   string `json:"room,omitempty"`
	Detail string `json:"detail,omitempty"`
	Link   string `json:"-"` // its page
}

// flagProcessExternal is sync/exchange.FlagProcessExternal: it reads an absence (no external
// organizer seen), so it is a note for the operator to judge, and its command turns on the
// processing of external invites: a security decision never put in a paste block.
const flagProcessExternal = "process_external_meeting_messages"

// InformationalFlag reports whether a calendar-processing finding is a note rather than a
// setting to fix.
func InformationalFlag(flag string) bool { return flag == flagProcessExternal }

// levelRank orders levels for sorting and for the worse of two.
func levelRank(l string) int {
	switch l {
	case health.Error:
		return 3
	case health.Warning:
		return 2
	case "pending":
		return 1
	}
	return 0
}

func worse(a, b string) string {
	if levelRank(b) > levelRank(a) {
		return b
	}
	return a
}

// roomLevel is a calendar sync status as a level.
func roomLevel(status string) string {
	switch status {
	case store.RoomOK:
		return health.OK
	case store.RoomPending:
		return "pending"
	case store.RoomThrottled, store.RoomTransient:
		return health.Warning
	}
	return health.Error
}

// endpointLevel is an endpoint state as a level; a state this version does not know is a
// warning, never green.
func endpointLevel(state string) string {
	switch state {
	case store.EndpointUp:
		return health.OK
	case store.EndpointUnknown:
		return "pending"
	case store.EndpointNotPolling, store.EndpointDegraded:
		return health.Warning
	case store.EndpointDown, store.EndpointAuthFailed, store.EndpointCertChanged, store.EndpointUnsupported:
		return health.Error
	}
	return health.Warning
}

// roomOverall is a room at a glance.
func roomOverall(status string, diagnosis []store.Finding, devices []DeviceState) string {
	level := roomLevel(status)
	for _, f := range diagnosis {
		if !InformationalFlag(f.Flag) {
			level = worse(level, health.Warning)
		}
	}
	for _, d := range devices {
		level = worse(level, d.Level)
	}
	return level
}

var (
	retryAfterRE = regexp.MustCompile(`; next try in [^;]*`)
	graphCodeRE  = regexp.MustCompile(`\((\d{3})\b`)
	tokenHTTPRE  = regexp.MustCompile(`^token endpoint: HTTP (\d{3}): (AADSTS\d+)?`)
)

// syncCause says what a room's failed sync means in a few words, from its status and detail
// (sync/graph's wording).
func syncCause(status, detail string) string {
	code := ""
	if m := graphCodeRE.FindStringSubmatch(detail); m != nil {
		code = " " + m[1]
	}
	switch {
	case strings.HasPrefix(detail, "token endpoint: no answer"):
		return "token endpoint unreachable"
	case tokenHTTPRE.MatchString(detail):
		m := tokenHTTPRE.FindStringSubmatch(detail)
		if m[2] != "" {
			return "sign-in failed: token endpoint HTTP " + m[1] + " " + m[2]
		}
		return "sign-in failed: token endpoint HTTP " + m[1]
	case strings.HasPrefix(detail, "Graph is unavailable"):
		return "Graph" + code
	case strings.HasPrefix(detail, "cannot reach Graph"):
		return "Graph unreachable"
	case strings.HasPrefix(detail, "Graph denied access"):
		return "Graph 403: no permission to read calendars"
	case strings.HasPrefix(detail, "Graph rejected the access token"):
		return "Graph 401: token rejected"
	}
	switch status {
	case store.RoomThrottled:
		return "Graph throttling (429)"
	case store.RoomPolicyDenied:
		return "outside the app's access scope"
	case store.RoomNotFound:
		return "no such mailbox"
	case store.RoomNotRESTEnabled:
		return "mailbox not in Exchange Online"
	case store.RoomAuthFailed:
		return "sign-in failed"
	case store.RoomTransient:
		return "temporary error"
	}
	return strings.ReplaceAll(status, "_", " ")
}

// Problems groups what needs attention by cause, worst first: rooms that fail to sync the
// same way, rooms whose mailboxes have the same wrong settings, endpoints that fail the same
// way, and unhealthy components no room or endpoint already shows. Notes (level info) come
// last. cfg may be nil (no app ids in the commands then).
func Problems(cfg *config.Config, rooms []Room, eps []Endpoint, items []health.Item) []Problem {
	var out []Problem
	clientID := func(integration string) string {
		if cfg != nil {
			if in := cfg.Integration(integration); in != nil && in.Graph() != nil {
				return in.Graph().ClientID
			}
		}
		return ""
	}
	roomURL := func(m string) string { return "/rooms/" + url.PathEscape(m) }

	// Calendar sync, by status and detail (the room's address and Retry-After aside).
	type syncKey struct{ status, integration, detail string }
	syncGroups := map[syncKey]*Problem{}
	var syncOrder []syncKey
	for _, r := range rooms {
		if r.Status == store.RoomOK || r.Status == store.RoomPending {
			continue
		}
		k := syncKey{r.Status, r.Integration, retryAfterRE.ReplaceAllString(strings.ReplaceAll(r.Detail, r.Mailbox, "{room}"), "")}
		p := syncGroups[k]
		if p == nil {
			p = &Problem{Level: roomLevel(r.Status), Kind: "calendar", Cause: syncCause(r.Status, r.Detail), State: r.Status, Detail: r.Detail}
			syncGroups[k] = p
			syncOrder = append(syncOrder, k)
		}
		p.Members = append(p.Members, ProblemMember{Name: r.Mailbox, Room: r.Mailbox, Detail: r.Detail, Link: roomURL(r.Mailbox)})
		if r.LastSuccess.After(p.Since) {
			p.Since = r.LastSuccess
		}
	}
	for _, k := range syncOrder {
		p := syncGroups[k]
		p.Advice, p.Command = roomAdvice(k.status, p.Detail, memberNames(p.Members), k.integration, clientID(k.integration))
		p.Rooms = len(p.Members)
		p.Summary = countOrName(p.Members, "room", "rooms", "") + ": " + p.Cause
		out = append(out, *p)
	}

	// Calendar processing: rooms with the same wrong settings are one problem; the command is
	// one Set-CalendarProcessing per room with every flag that room has wrong.
	diagGroups := map[string]*Problem{}
	var diagOrder []string
	for _, r := range rooms {
		var flags []string
		for _, f := range r.Diagnosis {
			if !InformationalFlag(f.Flag) {
				flags = append(flags, f.Flag)
			}
		}
		if len(flags) == 0 {
			continue
		}
		sort.Strings(flags)
		key := strings.Join(flags, ",")
		p := diagGroups[key]
		if p == nil {
			p = &Problem{Level: health.Warning, Kind: "mailbox", Cause: "calendar processing: " + strings.Join(flags, ", ")}
			diagGroups[key] = p
			diagOrder = append(diagOrder, key)
		}
		var details []string
		for _, f := range r.Diagnosis {
			if !InformationalFlag(f.Flag) {
				details = append(details, f.Detail)
			}
		}
		p.Members = append(p.Members, ProblemMember{Name: r.Mailbox, Room: r.Mailbox, Detail: strings.Join(details, "; "), Link: roomURL(r.Mailbox)})
		if fix := CalendarProcessingFix(r.Mailbox, r.Diagnosis); fix != "" {
			p.Command = strings.TrimPrefix(p.Command+"\n"+fix, "\n")
		}
	}
	for _, k := range diagOrder {
		p := diagGroups[k]
		p.Rooms = len(p.Members)
		p.Detail = p.Members[0].Detail
		p.Summary = countOrName(p.Members, "room", "rooms", "") + ": " + p.Cause
		p.Advice = "The room mailbox's calendar processing settings change invites in ways that break One-Touch Join. " +
			"Run in Exchange Online PowerShell (after Connect-ExchangeOnline); it applies to invites received afterwards:"
		out = append(out, *p)
	}

	// Endpoints, by type and cause; an alarm only the running agent's health shows is its
	// own cause.
	type epKey struct{ typ, cause string }
	epGroups := map[epKey]*Problem{}
	var epOrder []epKey
	covered := map[string]bool{}
	for _, e := range eps {
		covered[e.Type+"/"+e.Name] = true
		if len(e.Alarms) == 0 {
			continue
		}
		cause := endpointCause(e.Type, e.State, e.Detail)
		level := e.Alarms[0].Level
		if cause == "" {
			cause = e.Alarms[0].Message
		}
		for _, a := range e.Alarms {
			level = worse(level, a.Level)
		}
		k := epKey{e.Type, cause}
		p := epGroups[k]
		if p == nil {
			p = &Problem{Kind: "endpoint", Cause: cause, State: e.State, Detail: e.Detail}
			epGroups[k] = p
			epOrder = append(epOrder, k)
		}
		p.Level = worse(p.Level, level)
		detail := e.Detail
		if detail == "" {
			detail = e.Alarms[0].Message
		}
		p.Members = append(p.Members, ProblemMember{Name: e.Name, Room: e.Room, Detail: detail, Link: "/endpoints#ep-" + e.Name})
		if e.State == store.EndpointDown && e.LastContact.After(p.Since) {
			p.Since = e.LastContact // the last time it answered: down since then
		}
	}
	for _, k := range epOrder {
		p := epGroups[k]
		_, p.Advice, p.Command = endpointAdvice(k.typ, k.cause, memberNames(p.Members))
		if p.Detail == "" {
			p.Detail = p.Members[0].Detail
		}
		rooms := map[string]bool{}
		for _, m := range p.Members {
			rooms[m.Room] = true
		}
		p.Rooms = len(rooms)
		one, many := "endpoint", "endpoints"
		switch k.typ {
		case "cisco":
			one, many = "codec", "codecs"
		case "poly":
			one, many = "Poly endpoint", "Poly endpoints"
		}
		p.Summary = countOrName(p.Members, one, many, "room") + ": " + p.Cause
		out = append(out, *p)
	}

	// Components the rooms and endpoints above do not already show.
	roomDetails := map[string]bool{}
	integrationRooms := map[string]int{}
	for _, r := range rooms {
		if r.Detail != "" {
			roomDetails[r.Detail] = true
		}
		integrationRooms[r.Integration]++
	}
	for _, it := range items {
		if it.Level == health.OK || covered[it.Component] {
			continue
		}
		p := Problem{Level: it.Level, Kind: "component", Cause: it.Message, Detail: it.Message, Since: it.Since,
			Summary: it.Component + ": " + it.Message, Members: []ProblemMember{{Name: it.Component, Detail: it.Message}}}
		if name, ok := strings.CutPrefix(it.Component, "graph/"); ok {
			if roomDetails[it.Message] || roomsSummary(it.Message) {
				continue // the rooms' own problems say it, room by room
			}
			p.Rooms = integrationRooms[name]
		}
		if it.Component == "store" {
			p.Rooms = len(rooms)
		}
		out = append(out, p)
	}

	// Notes: findings that need the operator's judgement, not a fix. The command that would
	// change the setting is named in the advice, never given as a line to paste.
	var noted []ProblemMember
	var noteDetail string
	for _, r := range rooms {
		for _, f := range r.Diagnosis {
			if InformationalFlag(f.Flag) {
				noted = append(noted, ProblemMember{Name: r.Mailbox, Room: r.Mailbox, Detail: f.Detail, Link: roomURL(r.Mailbox)})
				if noteDetail == "" {
					noteDetail = f.Detail
				}
			}
		}
	}
	if len(noted) > 0 {
		out = append(out, Problem{Level: "info", Kind: "mailbox", Cause: "no external organizers seen",
			Summary: countOrName(noted, "room", "rooms", "") + ": no external organizers seen", Detail: noteDetail, Members: noted,
			Advice: "The room may decline external and forwarded invites (ProcessExternalMeetingMessages $false). That is a " +
				"security setting, so otj-edge does not suggest changing it: do so only if meetings organised outside the " +
				"organisation should reach the room (Set-CalendarProcessing -ProcessExternalMeetingMessages $true)."})
	}

	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Level == "info") != (b.Level == "info") {
			return b.Level == "info"
		}
		if a.Rooms != b.Rooms {
			return a.Rooms > b.Rooms
		}
		if levelRank(a.Level) != levelRank(b.Level) {
			return levelRank(a.Level) > levelRank(b.Level)
		}
		return len(a.Members) > len(b.Members)
	})
	if out == nil {
		out = []Problem{}
	}
	return out
}

// roomsSummary reports whether a Graph integration's health message only sums up its rooms
// (sync/graph's "no room syncs: …" and "3 of 40 rooms not syncing (…)").
func roomsSummary(msg string) bool {
	return strings.HasPrefix(msg, "no room syncs") || strings.Contains(msg, " rooms not syncing (")
}

// countOrName is "19 rooms", or the one member's name (with its room when in is "room").
func countOrName(ms []ProblemMember, one, many, in string) string {
	if len(ms) == 1 {
		if in == "room" && ms[0].Room != "" {
			return ms[0].Name + " (" + ms[0].Room + ")"
		}
		return ms[0].Name
	}
	return fmt.Sprintf("%d %s", len(ms), many)
}

func memberNames(ms []ProblemMember) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// Counted is how many of problems need attention (notes aside).
func Counted(problems []Problem) int {
	n := 0
	for _, p := range problems {
		if p.Level != "info" {
			n++
		}
	}
	return n
}

// CalendarProcessingFix is one Set-CalendarProcessing command for a room with every setting
// its findings say is wrong, each once; informational findings are left out. "" when there is
// nothing to fix.
func CalendarProcessingFix(mailbox string, findings []store.Finding) string {
	prefix := "Set-CalendarProcessing -Identity " + mailbox + " "
	var params []string
	seen := map[string]bool{}
	var other []string
	for _, f := range findings {
		if InformationalFlag(f.Flag) || f.Fix == "" {
			continue
		}
		rest, ok := strings.CutPrefix(f.Fix, prefix)
		if !ok {
			other = append(other, f.Fix) // not the shape Diagnose writes: keep it as it is
			continue
		}
		fields := strings.Fields(rest)
		for i := 0; i < len(fields); i++ {
			name := fields[i]
			value := ""
			if i+1 < len(fields) && !strings.HasPrefix(fields[i+1], "-") {
				value = fields[i+1]
				i++
			}
			if seen[strings.ToLower(name)] {
				continue
			}
			seen[strings.ToLower(name)] = true
			params = append(params, strings.TrimSpace(name+" "+value))
		}
	}
	var lines []string
	if len(params) > 0 {
		lines = append(lines, prefix+strings.Join(params, " "))
	}
	return strings.Join(append(lines, other...), "\n")
}
