package googlesim

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// events.list: full listings in pages, sync tokens standing for a snapshot of every item's
// version (whatever the window), increments as the diff, 410 when a token is gone.

type calState struct {
	states     map[string]*syncState
	stateOrder []string
	rounds     map[string]*round
	roundOrder []string
	tombs      map[bool]map[string]map[string]any // mode (singleEvents) → id → cancelled stub
}

type syncState struct {
	id       string
	single   bool
	horizon  time.Time
	versions map[string]snapEntry
}

type snapEntry struct {
	version string
	stub    map[string]any // what a deletion is reported as
}

type round struct {
	id    string
	items []map[string]any
	next  *syncState
}

const (
	keepStates = 8 // sync tokens kept per calendar; older ones answer 410
	keepRounds = 8
)

func (s *Server) calState(mb string) *calState {
	c := s.cals[mb]
	if c == nil {
		c = &calState{states: map[string]*syncState{}, rounds: map[string]*round{},
			tombs: map[bool]map[string]map[string]any{false: {}, true: {}}}
		s.cals[mb] = c
	}
	return c
}

// ExpireSyncTokens forgets the sync and page tokens of a calendar ("" = all), so their next
// use answers 410 fullSyncRequired.
func (s *Server) ExpireSyncTokens(calendar string) error {
	mb := ""
	if calendar != "" {
		var ok bool
		if mb, ok = s.resolve(calendar); !ok {
			return fmt.Errorf("calendar %s: not found", calendar)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cals {
		if mb == "" || k == mb {
			c.states, c.stateOrder = map[string]*syncState{}, nil
			c.rounds, c.roundOrder = map[string]*round{}, nil
		}
	}
	return nil
}

// Tokens are opaque to clients; inside they name the calendar, a state or round and an offset.
func encodeToken(kind, mb, id string, off int) string {
	return "C" + base64.RawURLEncoding.EncodeToString([]byte(kind+"|"+mb+"|"+id+"|"+strconv.Itoa(off)))
}

func decodeToken(tok, kind, mb string) (string, int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "C"))
	if err != nil {
		return "", 0, false
	}
	p := strings.Split(string(b), "|")
	if len(p) != 4 || p[0] != kind || p[1] != mb {
		return "", 0, false
	}
	off, err := strconv.Atoi(p[3])
	return p[2], off, err == nil && off >= 0
}

var syncIncompatible = []string{"iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"}

func badParam(param, msg string) *apiError {
	return newAPIError(400, "invalid", "global", msg).at("parameter", param)
}

func (s *Server) eventsList(w http.ResponseWriter, r *http.Request, at *accessToken) {
	q := r.URL.Query()
	mb, ok := s.resolve(r.PathValue("calendarId"))
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
		return
	}
	if !s.canRead(at.principal, mb) {
		writeError(w, http.StatusForbidden, "forbidden", "global", "Forbidden")
		return
	}
	size := DefaultPageSize
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeAPIError(w, badParam("maxResults", "Invalid value '"+v+"'. Values must be within the range: [1, 2500]"))
			return
		}
		size = min(n, MaxPageSize)
	}
	if tok := q.Get("pageToken"); tok != "" {
		s.page(w, mb, tok, size)
		return
	}
	if tok := q.Get("syncToken"); tok != "" {
		for _, p := range syncIncompatible {
			if q.Has(p) {
				writeAPIError(w, badParam(p, "Sync token cannot be used with the following parameter: "+p+"."))
				return
			}
		}
		if q.Get("showDeleted") == "false" {
			writeAPIError(w, badParam("showDeleted", "Sync token cannot be used with showDeleted=false: deleted events are always included."))
			return
		}
		s.increment(w, r, mb, tok, size)
		return
	}
	s.full(w, r, mb, q, size)
}

// listParams are a full listing's filters.
type listParams struct {
	single, showDeleted bool
	timeMin, timeMax    time.Time
	updatedMin          time.Time
	orderBy, text, ical string
	outLoc              *time.Location
}

func parseList(q url.Values, now time.Time) (listParams, *apiError) {
	var p listParams
	p.single = q.Get("singleEvents") == "true"
	p.showDeleted = q.Get("showDeleted") == "true"
	p.text, p.ical = strings.ToLower(q.Get("q")), q.Get("iCalUID")
	parse := func(name string) (time.Time, *apiError) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return t, newAPIError(400, "badRequest", "global", "Bad Request")
		}
		return t, nil
	}
	var e *apiError
	if p.timeMin, e = parse("timeMin"); e != nil {
		return p, e
	}
	if p.timeMax, e = parse("timeMax"); e != nil {
		return p, e
	}
	if p.updatedMin, e = parse("updatedMin"); e != nil {
		return p, e
	}
	if !p.timeMin.IsZero() && !p.timeMax.IsZero() && !p.timeMax.After(p.timeMin) {
		return p, newAPIError(400, "timeRangeEmpty", "calendar", "The specified time range is empty.").at("parameter", "timeMax")
	}
	if !p.updatedMin.IsZero() && now.Sub(p.updatedMin) > 28*24*time.Hour {
		return p, newAPIError(410, "updatedMinTooLongAgo", "calendar", "The requested minimum modification time lies too far in the past.").at("parameter", "updatedMin")
	}
	switch p.orderBy = q.Get("orderBy"); p.orderBy {
	case "", "updated":
	case "startTime":
		if !p.single {
			return p, newAPIError(400, "badRequest", "global", "The requested ordering is not available for the particular query.")
		}
	default:
		return p, badParam("orderBy", "Invalid value for: "+p.orderBy+" is not a valid value")
	}
	if tz := q.Get("timeZone"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return p, badParam("timeZone", "Invalid time zone definition for time zone: "+tz)
		}
		p.outLoc = loc
	}
	return p, nil
}

func (s *Server) full(w http.ResponseWriter, r *http.Request, mb string, q url.Values, size int) {
	now := s.now()
	p, e := parseList(q, now)
	if e != nil {
		writeAPIError(w, e)
		return
	}
	horizon := now.Add(ExpansionHorizon)
	if p.timeMax.After(horizon) {
		horizon = p.timeMax
	}
	rc := s.roomContext(mb, p.outLoc)
	items, err := s.universe(rc, p.single, horizon)
	if err != nil {
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
		return
	}
	// Series masters are listed when an instance of theirs falls in the window.
	inWindow := map[string]bool{}
	if !p.single && (!p.timeMin.IsZero() || !p.timeMax.IsZero()) {
		from, to := p.timeMin, p.timeMax
		if from.IsZero() {
			from = time.Unix(0, 0)
		}
		if to.IsZero() {
			to = horizon
		}
		view, _ := s.gs.ViewItems(mb, from, to)
		for _, v := range view {
			if v.MasterID != "" {
				inWindow[v.MasterID] = true
			}
		}
	}
	withDeleted := p.showDeleted || !p.updatedMin.IsZero()
	var out []gItem
	for _, it := range items {
		windowed := !p.timeMin.IsZero() || !p.timeMax.IsZero()
		if it.master {
			if windowed && !inWindow[it.graphID] {
				continue
			}
		} else if (!p.timeMin.IsZero() && !it.end.After(p.timeMin)) || (!p.timeMax.IsZero() && !it.start.Before(p.timeMax)) {
			continue
		}
		if it.cancelled && !withDeleted && !(!p.single && !it.master && it.doc["recurringEventId"] != nil) {
			continue // cancelled instances of live series are listed in the non-expanded form
		}
		if !p.updatedMin.IsZero() && it.updated.Before(p.updatedMin) {
			continue
		}
		if p.text != "" && !strings.Contains(it.text, p.text) {
			continue
		}
		if p.ical != "" && it.icalUID != p.ical {
			continue
		}
		out = append(out, it)
	}
	if p.orderBy == "updated" {
		sort.SliceStable(out, func(i, j int) bool { return out[i].updated.Before(out[j].updated) })
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.calState(mb)
	s.stats.cal(mb).FullSyncs++
	docs := make([]map[string]any, 0, len(out))
	for _, it := range out {
		docs = append(docs, it.doc)
	}
	if withDeleted {
		for _, stub := range cs.tombs[p.single] {
			docs = append(docs, stub)
		}
	}
	next := s.snapshot(cs, items, p.single, horizon)
	rd := s.newRound(cs, docs, next)
	s.writePage(w, mb, rd, 0, size)
}

// snapshot records every item's version as a new sync state (and notes deletions since the
// calendar was last looked at, for showDeleted).
func (s *Server) snapshot(cs *calState, items []gItem, single bool, horizon time.Time) *syncState {
	s.seq++
	st := &syncState{id: strconv.FormatUint(s.seq, 36), single: single, horizon: horizon, versions: make(map[string]snapEntry, len(items))}
	for _, it := range items {
		stub := map[string]any{"kind": "calendar#event", "id": it.id, "status": "cancelled", "etag": it.doc["etag"]}
		if v, ok := it.doc["recurringEventId"]; ok {
			stub["recurringEventId"], stub["originalStartTime"] = v, it.doc["originalStartTime"]
		}
		st.versions[it.id] = snapEntry{version: it.version, stub: stub}
		delete(cs.tombs[single], it.id)
	}
	return st
}

func (s *Server) newRound(cs *calState, docs []map[string]any, next *syncState) *round {
	s.seq++
	rd := &round{id: strconv.FormatUint(s.seq, 36), items: docs, next: next}
	cs.rounds[rd.id] = rd
	cs.roundOrder = append(cs.roundOrder, rd.id)
	if len(cs.roundOrder) > keepRounds {
		delete(cs.rounds, cs.roundOrder[0])
		cs.roundOrder = cs.roundOrder[1:]
	}
	return rd
}

// writePage answers one page of a round; the last page carries the sync token (and the state
// becomes usable only then, as Google's nextSyncToken is only on the last page).
func (s *Server) writePage(w http.ResponseWriter, mb string, rd *round, off, size int) {
	end := min(off+size, len(rd.items))
	items := make([]any, 0, end-off)
	updated := time.Time{}
	for _, d := range rd.items[off:end] {
		items = append(items, d)
		if u, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d["updated"])); err == nil && u.After(updated) {
			updated = u
		}
	}
	if updated.IsZero() {
		updated = s.now()
	}
	name, _ := s.gs.MailboxName(mb)
	body := map[string]any{"kind": "calendar#events", "etag": fmt.Sprintf(`"p%s%d"`, rd.id, off),
		"summary": resourceOf(mb, name).GeneratedResourceName, "description": "", "updated": stamp(updated),
		"timeZone": "UTC", "accessRole": "reader", "defaultReminders": []any{}, "items": items}
	cs := s.calState(mb)
	if end < len(rd.items) {
		body["nextPageToken"] = encodeToken("page", mb, rd.id, end)
	} else {
		if _, ok := cs.states[rd.next.id]; !ok {
			cs.states[rd.next.id] = rd.next
			cs.stateOrder = append(cs.stateOrder, rd.next.id)
			if len(cs.stateOrder) > keepStates {
				delete(cs.states, cs.stateOrder[0])
				cs.stateOrder = cs.stateOrder[1:]
			}
		}
		body["nextSyncToken"] = encodeToken("sync", mb, rd.next.id, 0)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) page(w http.ResponseWriter, mb, tok string, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, off, ok := decodeToken(tok, "page", mb)
	cs := s.calState(mb)
	rd := cs.rounds[id]
	if !ok || rd == nil || off > len(rd.items) {
		if ok {
			s.stats.cal(mb).Gone++
			writeAPIError(w, newAPIError(410, "fullSyncRequired", "calendar", "Sync token is no longer valid, a full sync is required.").at("parameter", "pageToken"))
			return
		}
		writeAPIError(w, badParam("pageToken", "Invalid page token value."))
		return
	}
	s.stats.cal(mb).Pages++
	s.writePage(w, mb, rd, off, size)
}

func (s *Server) increment(w http.ResponseWriter, r *http.Request, mb, tok string, size int) {
	id, _, ok := decodeToken(tok, "sync", mb)
	s.mu.Lock()
	old := s.calState(mb).states[id]
	if !ok || old == nil {
		s.stats.cal(mb).Gone++
		s.mu.Unlock()
		writeAPIError(w, newAPIError(410, "fullSyncRequired", "calendar", "Sync token is no longer valid, a full sync is required.").at("parameter", "syncToken"))
		return
	}
	s.mu.Unlock()
	var outLoc *time.Location
	if tz := r.URL.Query().Get("timeZone"); tz != "" {
		outLoc, _ = time.LoadLocation(tz)
	}
	rc := s.roomContext(mb, outLoc)
	items, err := s.universe(rc, old.single, old.horizon)
	if err != nil {
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.calState(mb)
	s.stats.cal(mb).Incremental++
	var docs []map[string]any
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.id] = true
		if prev, had := old.versions[it.id]; had && prev.version == it.version {
			continue
		}
		docs = append(docs, it.doc)
	}
	for id, prev := range old.versions {
		if !seen[id] {
			stub := maps.Clone(prev.stub)
			docs = append(docs, stub)
			cs.tombs[old.single][id] = stub
		}
	}
	next := s.snapshot(cs, items, old.single, old.horizon)
	rd := s.newRound(cs, docs, next)
	s.writePage(w, mb, rd, 0, size)
}
