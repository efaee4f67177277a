package graphsim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// calendarView/delta: a round's snapshot of the window, served in pages, and the deltaLink's
// changes since (with partial updates, as Exchange sends them).

// syncState is what a delta token stands for: the window and the version of every item the
// client has been sent.
type syncState struct {
	id      string
	ws, we  time.Time
	items   map[string]snapItem
	tz      *timeZoneOut
	created time.Time
}

type snapItem struct {
	version    string
	kind       string
	src        map[string]any // the room copy sent (shared, never mutated)
	start, end time.Time
}

// deltaRound is a delta response being paged: the items to send and the state the final
// page's deltaLink names.
type deltaRound struct {
	id    string
	items []map[string]any
	next  *syncState
}

const (
	keepStates = 4 // delta tokens kept per mailbox (older ones answer 410)
	keepRounds = 4
)

func (s *Server) delta(mb *mailbox, req gReq, pref prefer) gResp {
	q := req.query
	for _, k := range []string{"$filter", "$orderby", "$search", "$expand"} {
		if q.Get(k) != "" {
			return errResp(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The following parameters are not supported with change tracking over the 'CalendarView' resource: '"+k+"'.")
		}
	}
	gone := errResp(http.StatusGone, "SyncStateNotFound", "The sync state generation is not found; the delta token has expired or is invalid.")
	var round *deltaRound
	offset := 0
	switch {
	case q.Get("$skiptoken") != "":
		mb.stats.Pages++
		id, off, ok := decodeToken(q.Get("$skiptoken"), "r")
		if round = mb.rounds[id]; !ok || round == nil || off > len(round.items) {
			return gone
		}
		offset = off
	case q.Get("$deltatoken") != "":
		mb.stats.DeltaPolls++
		id, _, ok := decodeToken(q.Get("$deltatoken"), "d")
		old := mb.states[id]
		if !ok || old == nil || (s.opts.DeltaTokenTTL > 0 && s.now().Sub(old.created) > s.opts.DeltaTokenTTL) {
			return gone
		}
		round = s.newRound(mb, old, old.ws, old.we, old.tz)
	default:
		ws, we, bad := s.window(q)
		if bad != nil {
			return *bad
		}
		mb.stats.FullSyncs++
		round = s.newRound(mb, nil, ws, we, pref.tz)
	}
	size := pref.size()
	end := min(offset+size, len(round.items))
	value := make([]any, 0, end-offset)
	for _, it := range round.items[offset:end] {
		value = append(value, pref.body(it))
	}
	body := map[string]any{"@odata.context": s.graphBase + "/v1.0/$metadata#Collection(event)", "value": value}
	link := s.graphBase + "/v1.0/users/" + escapeUser(mb.addr) + "/calendarView/delta?"
	if end < len(round.items) {
		body["@odata.nextLink"] = link + "$skiptoken=" + encodeToken("r", round.id, end)
	} else {
		body["@odata.deltaLink"] = link + "$deltatoken=" + encodeToken("d", round.next.id, 0)
	}
	h := pref.applied()
	h.Add("Preference-Applied", "odata.track-changes")
	return gResp{status: http.StatusOK, body: body, header: h}
}

// newRound diffs the calendar view against the client's state (nil: a first round) and keeps
// the result for paging.
func (s *Server) newRound(mb *mailbox, old *syncState, ws, we time.Time, tz *timeZoneOut) *deltaRound {
	next := &syncState{id: s.seqID(), ws: ws, we: we, items: map[string]snapItem{}, tz: tz, created: s.now()}
	round := &deltaRound{id: s.seqID(), next: next}
	for _, inst := range mb.instances(ws, we) {
		src := inst.ev.room
		if inst.exc != nil {
			src = inst.exc.room
		}
		item := snapItem{version: inst.version, kind: inst.kind, src: src, start: inst.start, end: inst.end}
		next.items[inst.id] = item
		var prev snapItem
		var had bool
		if old != nil {
			prev, had = old.items[inst.id]
			if had && prev.version == item.version {
				continue
			}
		}
		switch {
		case inst.kind == typeOccurrence:
			round.items = append(round.items, inst.stub(tz))
		case had && s.app.partial && prev.kind == inst.kind:
			round.items = append(round.items, partial(inst.render(tz), prev, item))
		default:
			round.items = append(round.items, inst.render(tz))
		}
	}
	if old != nil {
		for id := range old.items {
			if _, ok := next.items[id]; !ok {
				round.items = append(round.items, map[string]any{"@odata.type": "#microsoft.graph.event", "id": id, "@removed": map[string]any{"reason": "deleted"}})
			}
		}
	}
	mb.states[next.id] = next
	mb.stateOrder = append(mb.stateOrder, next.id)
	if len(mb.stateOrder) > keepStates {
		delete(mb.states, mb.stateOrder[0])
		mb.stateOrder = mb.stateOrder[1:]
	}
	mb.rounds[round.id] = round
	mb.roundOrder = append(mb.roundOrder, round.id)
	if len(mb.roundOrder) > keepRounds {
		delete(mb.rounds, mb.roundOrder[0])
		mb.roundOrder = mb.roundOrder[1:]
	}
	return round
}

// partial keeps only what changed between two versions of an item, plus its identity.
func partial(full map[string]any, prev, cur snapItem) map[string]any {
	out := map[string]any{"@odata.type": full["@odata.type"], "@odata.etag": full["@odata.etag"], "id": full["id"],
		"changeKey": full["changeKey"], "lastModifiedDateTime": full["lastModifiedDateTime"]}
	for k, v := range cur.src {
		if pv, ok := prev.src[k]; !ok || !reflect.DeepEqual(pv, v) {
			out[k] = full[k]
		}
	}
	if !prev.start.Equal(cur.start) || !prev.end.Equal(cur.end) {
		out["start"], out["end"] = full["start"], full["end"]
	}
	return out
}

func (s *Server) seqID() string {
	s.idSeq++
	return strconv.FormatUint(s.idSeq, 36)
}

// Tokens are opaque to clients; inside they name a round or state and an offset.
func encodeToken(kind, id string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s.%s.%d.graphsim-sync-state", kind, id, offset)))
}

func decodeToken(tok, kind string) (string, int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", 0, false
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 4 || parts[0] != kind {
		return "", 0, false
	}
	off, err := strconv.Atoi(parts[2])
	if err != nil || off < 0 {
		return "", 0, false
	}
	return parts[1], off, true
}
