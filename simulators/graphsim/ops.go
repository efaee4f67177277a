package graphsim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
)

// Room describes a room mailbox to add.
type Room struct {
	Mailbox     string `json:"mailbox"`
	DisplayName string `json:"display_name,omitempty"` // default: from the address ("room-01" → "Room 01")
	// InPolicy: the mailbox is in the group the app's access policy names; default true.
	InPolicy *bool `json:"in_policy,omitempty"`
	// RESTEnabled false makes Graph answer MailboxNotEnabledForRESTAPI; default true.
	RESTEnabled *bool `json:"rest_enabled,omitempty"`
	// Processing is the room's Set-CalendarProcessing; default ExchangeDefaults().
	Processing *Processing `json:"processing,omitempty"`
	// RateLimit overrides the per-10-minute request limit for this mailbox.
	RateLimit int `json:"rate_limit,omitempty"`
	// FreeBusyDetails is what getSchedule shows of this room: "availability_only" or
	// "limited_details"; default the app's (PATCH /app), itself default "availability_only".
	FreeBusyDetails string `json:"free_busy_details,omitempty"`
}

// RoomInfo is a room as the admin API lists it.
type RoomInfo struct {
	Mailbox     string     `json:"mailbox"`
	DisplayName string     `json:"display_name"`
	InPolicy    bool       `json:"in_policy"`
	RESTEnabled bool       `json:"rest_enabled"`
	Processing  Processing `json:"processing"`
	RateLimit   int        `json:"rate_limit"`
	Events      int        `json:"events"` // singles and series on the calendar
	// FreeBusyDetails is the room's effective getSchedule detail level.
	FreeBusyDetails string `json:"free_busy_details"`
}

// RoomPatch changes a room (nil fields stay).
type RoomPatch struct {
	DisplayName *string          `json:"display_name,omitempty"`
	InPolicy    *bool            `json:"in_policy,omitempty"`
	RESTEnabled *bool            `json:"rest_enabled,omitempty"`
	Processing  *ProcessingPatch `json:"processing,omitempty"`
	RateLimit   *int             `json:"rate_limit,omitempty"`
	// FreeBusyDetails sets the room's getSchedule detail level ("" = the app's).
	FreeBusyDetails *string `json:"free_busy_details,omitempty"`
}

// ErrNotFound is returned for unknown rooms and events.
var ErrNotFound = errors.New("not found")

// AddRoom adds (or replaces the settings of) a room mailbox.
func (s *Server) AddRoom(r Room) error {
	addr := strings.ToLower(strings.TrimSpace(r.Mailbox))
	if !strings.Contains(addr, "@") {
		return fmt.Errorf("mailbox %q: want an SMTP address", r.Mailbox)
	}
	if err := validFreeBusyDetails(r.FreeBusyDetails); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[addr]
	if mb == nil {
		mb = &mailbox{addr: addr, events: map[string]*eventRec{}, states: map[string]*syncState{}, rounds: map[string]*deltaRound{},
			inPolicy: true, restEnabled: true, proc: ExchangeDefaults()}
		s.boxes[addr] = mb
		_, dom, _ := strings.Cut(addr, "@")
		s.domains[dom] = true
	}
	mb.name = r.DisplayName
	if mb.name == "" {
		mb.name = displayName(addr)
	}
	if r.InPolicy != nil {
		mb.inPolicy = *r.InPolicy
	}
	if r.RESTEnabled != nil {
		mb.restEnabled = *r.RESTEnabled
	}
	if r.Processing != nil {
		mb.proc = *r.Processing
		if mb.proc.AutomateProcessing == "" {
			mb.proc.AutomateProcessing = AutoAccept
		}
	}
	mb.rateLimit = r.RateLimit
	mb.freeBusy = r.FreeBusyDetails
	return nil
}

// displayName turns room-01@x into "Room 01".
func displayName(addr string) string {
	local, _, _ := strings.Cut(addr, "@")
	parts := strings.FieldsFunc(local, func(r rune) bool { return r == '-' || r == '.' || r == '_' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, " ")
}

// PatchRoom changes a room's policy membership, REST state, processing or rate limit.
func (s *Server) PatchRoom(mailbox string, p RoomPatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	if p.FreeBusyDetails != nil {
		if err := validFreeBusyDetails(*p.FreeBusyDetails); err != nil {
			return err
		}
	}
	if p.Processing != nil {
		proc := mb.proc
		if err := proc.apply(*p.Processing); err != nil {
			return err
		}
		mb.proc = proc
	}
	if p.DisplayName != nil {
		mb.name = *p.DisplayName
	}
	if p.InPolicy != nil {
		mb.inPolicy = *p.InPolicy
	}
	if p.RESTEnabled != nil {
		mb.restEnabled = *p.RESTEnabled
	}
	if p.RateLimit != nil {
		mb.rateLimit = *p.RateLimit
	}
	if p.FreeBusyDetails != nil {
		mb.freeBusy = *p.FreeBusyDetails
	}
	return nil
}

// RemoveRoom deletes a mailbox (Graph then answers ErrorInvalidUser for it).
func (s *Server) RemoveRoom(mailbox string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := strings.ToLower(mailbox)
	if s.boxes[addr] == nil {
		return fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	delete(s.boxes, addr)
	return nil
}

// Rooms lists the rooms.
func (s *Server) Rooms() []RoomInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RoomInfo, 0, len(s.boxes))
	for _, mb := range s.boxes {
		out = append(out, s.roomInfo(mb))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out
}

// RoomInfo describes one room.
func (s *Server) RoomInfo(mailbox string) (RoomInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return RoomInfo{}, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	return s.roomInfo(mb), nil
}

func (s *Server) roomInfo(mb *mailbox) RoomInfo {
	rl := mb.rateLimit
	if rl == 0 {
		rl = s.app.rateLimit
	}
	return RoomInfo{Mailbox: mb.addr, DisplayName: mb.name, InPolicy: mb.inPolicy, RESTEnabled: mb.restEnabled,
		Processing: mb.proc, RateLimit: rl, Events: len(mb.events), FreeBusyDetails: s.freeBusyDetails(mb)}
}

// PostEvent delivers an invite (a Graph event JSON from the organizer's side) to a room. The
// room's processing decides what lands on its calendar; the result is the room copy's id. A
// declined or ignored invite returns an *InviteRefused error.
func (s *Server) PostEvent(mailbox string, ev map[string]any) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return "", fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	org := nestedString(ev, "organizer", "emailAddress", "address")
	if org == "" {
		return "", errors.New("invite: organizer.emailAddress.address is required")
	}
	start, end, zone, loc, err := eventTimes(ev)
	if err != nil {
		return "", fmt.Errorf("invite: %w", err)
	}
	switch {
	case mb.proc.AutomateProcessing == AutoNone:
		return "", &InviteRefused{Reason: "the room's AutomateProcessing is None: the invite stays in its inbox and never reaches the calendar"}
	case mb.proc.AutomateProcessing == AutoAccept && !mb.proc.ProcessExternalMeetingMessages && s.isExternal(org):
		return "", &InviteRefused{Reason: "declined: the organizer " + org + " is external and the room's ProcessExternalMeetingMessages is $false"}
	}
	rec := &eventRec{id: s.newID(mb.addr), orig: deepCopy(ev), start: start, end: end, zone: zone, loc: loc,
		exc: map[int64]*exceptionRec{}, deleted: map[int64]bool{}, ck: s.newChangeKey(), created: s.now(), modified: s.now()}
	if uid, _ := ev["iCalUId"].(string); uid != "" {
		rec.iCalUID = uid
	} else {
		sum := sha256.Sum256([]byte(rec.id))
		rec.iCalUID = "040000008200E00074C5B7101A82E008" + strings.ToUpper(hex.EncodeToString(sum[:16]))
	}
	if r, ok := rec.orig["recurrence"]; ok && r != nil {
		if rec.rec, err = parseRecurrence(r, start, loc); err != nil {
			return "", fmt.Errorf("invite: %w", err)
		}
	}
	rec.room = s.roomCopy(mb, rec.orig)
	mb.events[rec.id] = rec
	s.eventChanged(mb, rec.id, "created")
	return rec.id, nil
}

// InviteRefused says why an invite did not reach the room's calendar.
type InviteRefused struct{ Reason string }

func (e *InviteRefused) Error() string { return "invite not accepted: " + e.Reason }

// PatchEvent applies an organizer's update to an event, a series (master id) or one occurrence
// (occurrence id: the occurrence becomes an exception). The room's processing applies again,
// as Exchange processes updates like new requests.
func (s *Server) PatchEvent(mailbox, id string, patch map[string]any) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return "", fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	patch = deepCopy(patch) // JSON types throughout, whoever the caller is
	if ev, ok := mb.events[id]; ok {
		orig := deepCopy(ev.orig)
		maps.Copy(orig, patch)
		start, end, zone, loc, err := eventTimes(orig)
		if err != nil {
			return "", fmt.Errorf("update: %w", err)
		}
		var rec *recurrence
		if r, ok := orig["recurrence"]; ok && r != nil {
			if rec, err = parseRecurrence(r, start, loc); err != nil {
				return "", fmt.Errorf("update: %w", err)
			}
		}
		upd := *ev
		upd.orig, upd.start, upd.end, upd.zone, upd.loc, upd.rec = orig, start, end, zone, loc, rec
		upd.ck, upd.modified = s.newChangeKey(), s.now()
		upd.room = s.roomCopy(mb, orig)
		if orig["isCancelled"] == true {
			upd.room = s.cancelledCopy(upd.room)
		}
		// Exceptions keep their own changes on top of the new series.
		upd.exc = map[int64]*exceptionRec{}
		for k, x := range ev.exc {
			nx := *x
			nx.room = s.exceptionCopy(mb, &upd, x.patch)
			upd.exc[k] = &nx
		}
		mb.events[id] = &upd
		s.eventChanged(mb, id, "updated")
		return id, nil
	}
	inst, ok := mb.findInstance(id)
	if !ok || (inst.kind != typeOccurrence && inst.kind != typeException) {
		return "", fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	ev := inst.ev
	key := inst.originalStart.Unix()
	x := &exceptionRec{id: inst.id, patch: map[string]any{}, start: inst.start, end: inst.end}
	if old, ok := ev.exc[key]; ok {
		x.patch = deepCopy(old.patch)
	}
	maps.Copy(x.patch, patch)
	// An exception's own times, when given, move it.
	if _, ok := x.patch["start"]; ok {
		st, _, _, err := parseDateTimeTimeZone(x.patch["start"])
		if err != nil {
			return "", fmt.Errorf("update: start: %w", err)
		}
		x.start = st
	}
	if _, ok := x.patch["end"]; ok {
		en, _, _, err := parseDateTimeTimeZone(x.patch["end"])
		if err != nil {
			return "", fmt.Errorf("update: end: %w", err)
		}
		x.end = en
	}
	if !x.end.After(x.start) {
		return "", errors.New("update: end must be after start")
	}
	x.ck, x.modified = s.newChangeKey(), s.now()
	x.room = s.exceptionCopy(mb, ev, x.patch)
	upd := *ev
	upd.exc = maps.Clone(ev.exc)
	upd.exc[key] = x
	mb.events[ev.id] = &upd
	s.eventChanged(mb, x.id, "updated")
	return x.id, nil
}

// exceptionCopy is the room's copy of a modified occurrence: the series with the changes.
func (s *Server) exceptionCopy(mb *mailbox, ev *eventRec, patch map[string]any) map[string]any {
	orig := deepCopy(ev.orig)
	maps.Copy(orig, patch)
	room := s.roomCopy(mb, orig)
	if orig["isCancelled"] == true {
		room = s.cancelledCopy(room)
	}
	return room
}

// cancelledCopy is what the room keeps of a meeting its organizer cancelled.
func (s *Server) cancelledCopy(room map[string]any) map[string]any {
	m := maps.Clone(room)
	m["isCancelled"] = true
	m["showAs"] = "free"
	if sub, _ := m["subject"].(string); !strings.HasPrefix(sub, "Canceled: ") {
		m["subject"] = "Canceled: " + sub
	}
	return m
}

// CancelEvent is the organizer cancelling a meeting, a series or one occurrence. The room
// deletes it when its RemoveCanceledMeetings is on; otherwise it stays as "Canceled: …".
func (s *Server) CancelEvent(mailbox, id string) error {
	s.mu.Lock()
	remove := false
	if mb := s.boxes[strings.ToLower(mailbox)]; mb != nil {
		remove = mb.proc.RemoveCanceledMeetings
	}
	s.mu.Unlock()
	if remove {
		return s.DeleteEvent(mailbox, id)
	}
	_, err := s.PatchEvent(mailbox, id, map[string]any{"isCancelled": true})
	return err
}

// DeleteEvent removes an event or series from the room's calendar; an occurrence id deletes
// that occurrence only.
func (s *Server) DeleteEvent(mailbox, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	if _, ok := mb.events[id]; ok {
		delete(mb.events, id)
		s.eventChanged(mb, id, "deleted")
		return nil
	}
	inst, ok := mb.findInstance(id)
	if !ok || (inst.kind != typeOccurrence && inst.kind != typeException) {
		return fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	upd := *inst.ev
	upd.deleted = maps.Clone(inst.ev.deleted)
	upd.deleted[inst.originalStart.Unix()] = true
	upd.exc = maps.Clone(inst.ev.exc)
	delete(upd.exc, inst.originalStart.Unix())
	mb.events[upd.id] = &upd
	s.eventChanged(mb, inst.id, "deleted")
	return nil
}

// Event returns the room's copy of an event, series master or occurrence as Graph renders it.
func (s *Server) Event(mailbox, id string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return nil, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	inst, ok := mb.findInstance(id)
	if !ok {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	return inst.render(nil), nil
}

// Events lists a room's calendar: single instances and series masters, by start.
func (s *Server) Events(mailbox string) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return nil, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	evs := make([]*eventRec, 0, len(mb.events))
	for _, ev := range mb.events {
		evs = append(evs, ev)
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].start.Equal(evs[j].start) {
			return evs[i].start.Before(evs[j].start)
		}
		return evs[i].id < evs[j].id
	})
	out := make([]map[string]any, 0, len(evs))
	for _, ev := range evs {
		kind := typeSingle
		if ev.rec != nil {
			kind = typeMaster
		}
		out = append(out, instance{id: ev.id, kind: kind, ev: ev, start: ev.start, end: ev.end, version: ev.ck}.render(nil))
	}
	return out, nil
}

// Instances lists the occurrences and exceptions of a series (or the event itself) in
// [from, to), as the calendar view shows them.
func (s *Server) Instances(mailbox, id string, from, to time.Time) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return nil, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	if _, ok := mb.events[id]; !ok {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	var out []map[string]any
	for _, inst := range mb.instances(from, to) {
		if inst.ev.id == id {
			out = append(out, inst.render(nil))
		}
	}
	return out, nil
}

// CalendarView lists what Graph's calendarView shows for [from, to): single instances,
// occurrences and exceptions, by start, fully rendered.
func (s *Server) CalendarView(mailbox string, from, to time.Time) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.boxes[strings.ToLower(mailbox)]
	if mb == nil {
		return nil, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	out := []map[string]any{}
	for _, inst := range mb.instances(from, to) {
		out = append(out, inst.render(nil))
	}
	return out, nil
}

// ExpireDeltaTokens forgets every sync state of a mailbox ("" = all), so the next use of a
// delta or skip token answers 410 SyncStateNotFound.
func (s *Server) ExpireDeltaTokens(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, mb := range s.boxes {
		if mailbox == "" || strings.EqualFold(mailbox, addr) {
			mb.states, mb.stateOrder = map[string]*syncState{}, nil
			mb.rounds, mb.roundOrder = map[string]*deltaRound{}, nil
		}
	}
}
