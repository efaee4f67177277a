package graph

import (
	"encoding/json"
	"fmt"
	"time"
)

// Delegated rounds: Graph answers 403 on the nextLink and deltaLink of another mailbox's
// calendar read with a delegated token (ews-source.md §B2), so a delegated room is read with
// plain calendarView requests that never follow a link. Every round is a full round over the
// room's window: the first request asks for up to viewTop meetings ordered by start; when
// Graph has more, the next request starts at the last meeting's start instead of following
// the nextLink. The round's pages go through the same apply as app-only full rounds:
// occurrences are reduced to the stubs delta sends and filled from their series master (so a
// room stores the same meetings either way), unchanged events are not rewritten (the stored
// JSON, changeKey included, is compared), and the round ends with the sweep of ids it did not
// see. Requests go through the same dispatcher, budget, scheduler and diagnosis.

// viewTop is how many meetings one calendarView request asks for (a variable: tests make
// rounds of several requests).
var viewTop = 500

// viewLink marks a delegated cursor and round (never a URL, so a switch back to app-only
// starts with a full delta round: fromGraphURL refuses it).
const viewLink = "calendarView"

// viewSpan is a part of the window still to read.
type viewSpan struct{ from, to time.Time }

// viewSpec is the next calendarView request of a delegated round (under the round's owner).
func viewSpec(mailbox string, rd *round) reqSpec {
	if len(rd.views) == 0 {
		rd.views = []viewSpan{{rd.ws, rd.we}}
	}
	return reqSpec{kind: kindView, mailbox: mailbox, start: rd.views[0].from, end: rd.views[0].to}
}

// viewPage reads a calendarView answer as a page of the round: more to read (nextLink = the
// marker) or the round's end (deltaLink = the marker).
func viewPage(rd *round, body []byte) (page, error) {
	var raw struct {
		Value    []doc  `json:"value"`
		NextLink string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return page{}, fmt.Errorf("calendarView page is not valid JSON: %w", err)
	}
	var p page
	var last time.Time
	for _, d := range raw.Value {
		delete(d, "@odata.context")
		it := item{doc: d, id: d.str("id"), typ: d.str("type"), masterID: d.str("seriesMasterId"), etag: d.str("@odata.etag")}
		if it.id == "" {
			continue
		}
		if it.stub() {
			// What delta sends for an occurrence; the rest comes from its series master.
			it.doc = stubOf(d)
		}
		if ev, err := d.event(); err == nil {
			if st, err := ev.StartTime(); err == nil && st.After(last) {
				last = st
			}
		}
		p.items = append(p.items, it)
	}
	if len(rd.views) == 0 {
		rd.views = []viewSpan{{rd.ws, rd.we}}
	}
	cur := rd.views[0]
	switch {
	case raw.NextLink != "" && last.After(cur.from):
		rd.views[0].from = last // the rest of this span, from the last start read
	default:
		// Done with this span. (More than viewTop meetings starting at the same instant is
		// not a room's calendar; the rest would be read by the next round's first request.)
		rd.views = rd.views[1:]
	}
	if len(rd.views) == 0 {
		p.deltaLink = viewLink
	} else {
		p.nextLink = viewLink
	}
	return p, nil
}

// readPage reads a step's answer: a delta page, or a delegated round's calendarView page.
func (s *Syncer) readPage(rd *round, body []byte, checked bool) (page, error) {
	if s.in.Delegated() {
		return viewPage(rd, body)
	}
	if checked {
		return parseCheckedPage(body)
	}
	return parsePage(body)
}
