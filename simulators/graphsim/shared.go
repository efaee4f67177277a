package graphsim

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strings"
	"time"
)

// This file holds read accessors for simulators that serve the same calendars through another
// protocol (ewssim fronts a *Server with EWS), so one scenario and one set of admin edits drive
// both. They read; they never change what graphsim serves.

// Item kinds of SharedItem.Kind, as Graph names them.
const (
	KindSingle     = typeSingle
	KindOccurrence = typeOccurrence
	KindException  = typeException
	KindMaster     = typeMaster
)

// SharedItem is one item of a room's calendar as stored (single, series master) or as a
// calendar view shows it (single, occurrence, exception).
type SharedItem struct {
	ID       string // Graph's id (occurrences and exceptions: the occurrence id)
	Kind     string // KindSingle, KindOccurrence, KindException or KindMaster
	MasterID string // the series master of an occurrence or exception
	// ChangeKey changes whenever what a client would read of the item changes. For a master it
	// also covers its exceptions and deleted occurrences, which Exchange stores inside the master.
	ChangeKey     string
	Start, End    time.Time // UTC
	OriginalStart time.Time // occurrences and exceptions
	Created       time.Time
	Modified      time.Time
	ICalUID       string
	Zone          string // the time zone the organizer gave
	// Doc is the room's copy as Graph renders it (subject, body, organizer, attendees, location,
	// sensitivity, isCancelled, isOnlineMeeting, onlineMeeting, recurrence...); a copy.
	Doc map[string]any
	// Exceptions and Deleted are a master's modified and deleted occurrences (original starts).
	Exceptions []SharedItem
	Deleted    []time.Time
}

func (s *Server) box(mailbox string) (*mailbox, error) {
	mb := s.boxes[strings.ToLower(strings.TrimSpace(mailbox))]
	if mb == nil {
		return nil, fmt.Errorf("room %s: %w", mailbox, ErrNotFound)
	}
	return mb, nil
}

// MailboxName returns a room's display name; ok is false when there is no such mailbox.
func (s *Server) MailboxName(mailbox string) (name string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.box(mailbox)
	if err != nil {
		return "", false
	}
	return mb.name, true
}

// Now is the simulator's clock.
func (s *Server) Now() time.Time { return s.now() }

// AdminHandler is graphsim's admin API, for simulators that mount it under their own.
func (s *Server) AdminHandler() http.Handler { return s.adminHandler() }

// StoredItems lists a room's singles and series masters (what a folder sync sees), by id.
func (s *Server) StoredItems(mailbox string) ([]SharedItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.box(mailbox)
	if err != nil {
		return nil, err
	}
	out := make([]SharedItem, 0, len(mb.events))
	for _, ev := range mb.events {
		out = append(out, sharedStored(ev))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ViewItems lists the calendar view [from, to) of a room: singles, occurrences, exceptions.
func (s *Server) ViewItems(mailbox string, from, to time.Time) ([]SharedItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.box(mailbox)
	if err != nil {
		return nil, err
	}
	insts := mb.instances(from, to)
	out := make([]SharedItem, 0, len(insts))
	for _, inst := range insts {
		out = append(out, sharedInstance(inst))
	}
	return out, nil
}

// SharedItemByID resolves a stored item, an occurrence or an exception id.
func (s *Server) SharedItemByID(mailbox, id string) (SharedItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.box(mailbox)
	if err != nil {
		return SharedItem{}, err
	}
	if ev, ok := mb.events[id]; ok {
		return sharedStored(ev), nil
	}
	inst, ok := mb.findInstance(id)
	if !ok {
		return SharedItem{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	return sharedInstance(inst), nil
}

// Fingerprint is a cheap digest of a room's stored items and their versions: it changes
// whenever StoredItems would report a change. ok is false for an unknown mailbox.
func (s *Server) Fingerprint(mailbox string) (sum uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.box(mailbox)
	if err != nil {
		return 0, false
	}
	var acc uint64
	for _, ev := range mb.events {
		h := fnv.New64a()
		h.Write([]byte(ev.id))
		h.Write([]byte(masterChangeKey(ev)))
		acc += h.Sum64() // order-independent
	}
	return acc ^ uint64(len(mb.events)), true
}

func sharedStored(ev *eventRec) SharedItem {
	kind := typeSingle
	if ev.rec != nil {
		kind = typeMaster
	}
	it := SharedItem{ID: ev.id, Kind: kind, ChangeKey: ev.ck, Start: ev.start, End: ev.end, Created: ev.created,
		Modified: ev.modified, ICalUID: ev.iCalUID, Zone: ev.zone,
		Doc: instance{id: ev.id, kind: kind, ev: ev, start: ev.start, end: ev.end, version: ev.ck}.render(nil)}
	if ev.rec == nil {
		return it
	}
	it.ChangeKey = masterChangeKey(ev)
	keys := make([]int64, 0, len(ev.exc))
	for k := range ev.exc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		x := ev.exc[k]
		orig := time.Unix(k, 0).UTC()
		it.Exceptions = append(it.Exceptions, sharedInstance(instance{id: x.id, kind: typeException, ev: ev, exc: x,
			start: x.start, end: x.end, originalStart: orig, version: x.ck}))
		if x.modified.After(it.Modified) {
			it.Modified = x.modified
		}
	}
	for k := range ev.deleted {
		it.Deleted = append(it.Deleted, time.Unix(k, 0).UTC())
	}
	sort.Slice(it.Deleted, func(i, j int) bool { return it.Deleted[i].Before(it.Deleted[j]) })
	return it
}

func sharedInstance(inst instance) SharedItem {
	it := SharedItem{ID: inst.id, Kind: inst.kind, ChangeKey: inst.version, Start: inst.start, End: inst.end,
		OriginalStart: inst.originalStart, Created: inst.ev.created, Modified: inst.ev.modified, ICalUID: inst.ev.iCalUID,
		Zone: inst.ev.zone, Doc: inst.render(nil)}
	if inst.kind == typeOccurrence || inst.kind == typeException {
		it.MasterID = inst.ev.id
	}
	if inst.exc != nil {
		it.Modified = inst.exc.modified
	}
	return it
}

// masterChangeKey is a series' version including its exceptions and deleted occurrences
// (Exchange keeps those inside the master, so editing one occurrence updates the master).
func masterChangeKey(ev *eventRec) string {
	if ev.rec == nil || (len(ev.exc) == 0 && len(ev.deleted) == 0) {
		return ev.ck
	}
	keys := make([]int64, 0, len(ev.exc)+len(ev.deleted))
	for k := range ev.exc {
		keys = append(keys, k)
	}
	for k := range ev.deleted {
		keys = append(keys, -k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	h := sha256.New()
	h.Write([]byte(ev.ck))
	for _, k := range keys {
		fmt.Fprintf(h, "|%d", k)
		if k > 0 {
			h.Write([]byte(ev.exc[k].ck))
		}
	}
	return "DwAAABYAAAA" + base64.StdEncoding.EncodeToString(h.Sum(nil)[:12])
}
