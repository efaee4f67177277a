package poly

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
	"github.com/otj-edge/otj-edge/sync/calendar/stored"
	"github.com/otj-edge/otj-edge/sync/rules"
)

// DefaultBodyTemplate renders a served item's body: the dial string alone on the first line
// (where Poly's parser looks after the Location), then one fixed line. The subject, organizer
// and invitation text are left out on purpose: a Poly endpoint scans the body for anything
// dialable, and a phone number in a subject would give a meeting without a video address a
// Join button that dials the wrong thing.
const DefaultBodyTemplate = `{{with .DialString}}{{.}}

One-touch join: press Join on the touch panel.{{end}}`

// bodyData is what the body template sees: every field of the resolved meeting, plus the dial
// string as served to Poly.
type bodyData struct {
	calendar.Meeting
	DialString string
}

// DialString is what a Poly endpoint dials for a meeting, or "" when it cannot join it: a SIP
// address as a sip: URI (the form Poly's calendar parser recognises most reliably), an H.323
// address as the bare number or IP, nothing for browser-only (WebRTC) or Webex-cloud joins,
// which a Poly endpoint's calendar cannot start.
func DialString(m *calendar.Meeting) string {
	n := strings.TrimSpace(m.Number)
	if !m.Join || n == "" {
		return ""
	}
	lower := strings.ToLower(n)
	switch m.Protocol {
	case calendar.ProtocolSIP, "":
		if strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:") {
			return n
		}
		if strings.HasPrefix(lower, "h323:") {
			return n[len("h323:"):]
		}
		return "sip:" + n
	case calendar.ProtocolH323:
		if strings.HasPrefix(lower, "h323:") {
			return n[len("h323:"):]
		}
		return n
	}
	return ""
}

// item is one meeting as served: ids, change key, dial string and body, computed once per
// change of the room's meetings.
type item struct {
	M          itemMeeting
	ID         string // ItemId
	ChangeKey  string
	DialString string
	BodyText   string
}

// itemMeeting is what an item shows of its meeting (writeItem). The rest of the stored meeting
// (its Graph ids, join number, rule and reason) went into the item's id, change key, dial
// string and body when the item was made: not keeping it halves what the cache holds (100
// rooms of 40 meetings: ~2.5 MB with every calendar.Meeting kept).
type itemMeeting struct {
	Start, End                                  time.Time
	Subject, Organizer, OrganizerEmail, ICalUID string
	AllDay, Private, Tentative, Recurring       bool
}

func itemMeetingOf(m *calendar.Meeting) itemMeeting {
	return itemMeeting{Start: m.Start, End: m.End, Subject: m.Subject, Organizer: m.Organizer, OrganizerEmail: m.OrganizerEmail,
		ICalUID: m.ICalUID, AllDay: m.AllDay, Private: m.Private, Tentative: m.Tentative, Recurring: m.SeriesMasterID != ""}
}

// itemID is a meeting's EWS ItemId: base64url (no padding) of a version byte and a digest of
// room and meeting id. It is stable across polls and restarts, never contains '|', spaces or
// line breaks (Poly prints ids in pipe-separated CLI output), is short enough for any client,
// and reveals nothing about the meeting.
func itemID(room, meetingID string) string {
	sum := sha256.Sum256([]byte("item\x00" + room + "\x00" + meetingID))
	return base64.RawURLEncoding.EncodeToString(append([]byte{1}, sum[:24]...))
}

// folderID is the ItemId-style id of a room's calendar folder.
func folderID(room string) string {
	sum := sha256.Sum256([]byte("calendar\x00" + room))
	return base64.RawURLEncoding.EncodeToString(append([]byte{1}, sum[:24]...))
}

// changeKey changes whenever anything served for the meeting changes: the meeting's own hash
// (everything an endpoint would show) and the body template that renders it.
func changeKey(meetingHash, templateDigest string) string {
	sum := sha256.Sum256([]byte(meetingHash + "\x00" + templateDigest))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// bodyRenderer renders item bodies with the configured template.
type bodyRenderer struct {
	t      *template.Template
	digest string
}

func newBodyRenderer(text string) (*bodyRenderer, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultBodyTemplate
	}
	t, err := rules.ParseTemplate("body_template", text)
	if err != nil {
		return nil, fmt.Errorf("ews.body_template: %w", err)
	}
	sum := sha256.Sum256([]byte(text))
	return &bodyRenderer{t: t, digest: base64.RawURLEncoding.EncodeToString(sum[:8])}, nil
}

// maxBodyBytes caps a rendered body: Poly shows a few lines; a runaway template must not make
// every response huge.
const maxBodyBytes = 8 << 10

func (r *bodyRenderer) render(m calendar.Meeting, dial string) (string, error) {
	var b bytes.Buffer
	if err := r.t.Execute(&b, bodyData{Meeting: m, DialString: dial}); err != nil {
		return "", err
	}
	s := strings.TrimSpace(strings.ReplaceAll(b.String(), "\r\n", "\n"))
	if len(s) > maxBodyBytes {
		s = strings.ToValidUTF8(s[:maxBodyBytes], "")
	}
	return s, nil
}

// bodyHTML is the text body as HTML, for clients asking for BodyType HTML.
func bodyHTML(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body>")
	for _, line := range strings.Split(text, "\n") {
		b.WriteString("<div>")
		if line == "" {
			b.WriteString("<br>")
		} else {
			b.WriteString(html.EscapeString(line))
		}
		b.WriteString("</div>")
	}
	b.WriteString("</body></html>")
	return b.String()
}

// roomView is a room's served items, sorted by start time.
type roomView struct {
	items  []*item
	byID   map[string]*item
	loaded time.Time
}

// itemCache keeps each room's served items until the store says the room's meetings changed,
// so a hundred endpoints polling every minute cost a map lookup, not a query and a template
// run per item. Change notices are taken at the start of every lookup, so a request never
// sees meetings older than the last write that committed before it arrived.
type itemCache struct {
	st     *store.Store
	sub    *store.Sub
	body   *bodyRenderer
	now    func() time.Time
	mu     sync.Mutex
	rooms  map[string]*roomView
	gen    map[string]uint64 // bumped by invalidate, so a load that raced a change is not kept
	maxAge time.Duration
}

func newItemCache(st *store.Store, body *bodyRenderer, now func() time.Time) *itemCache {
	// maxAge is a safety net only: change notices keep the cache right.
	return &itemCache{st: st, sub: st.Subscribe(store.TopicMeetings), body: body, now: now,
		rooms: map[string]*roomView{}, gen: map[string]uint64{}, maxAge: 10 * time.Minute}
}

// invalidate forgets rooms whose meetings changed.
func (c *itemCache) invalidate(rooms ...string) {
	c.mu.Lock()
	for _, r := range rooms {
		delete(c.rooms, r)
		c.gen[r]++
	}
	c.mu.Unlock()
}

// room returns a room's items, loading them from the store when needed.
func (c *itemCache) room(ctx context.Context, room string) (*roomView, error) {
	c.invalidate(c.sub.Take()...)
	c.mu.Lock()
	v := c.rooms[room]
	gen := c.gen[room]
	c.mu.Unlock()
	if v != nil && c.now().Sub(v.loaded) < c.maxAge && c.now().Sub(v.loaded) >= 0 {
		return v, nil
	}
	loaded := c.now()
	ms, err := stored.Meetings(ctx, c.st, room, time.Time{}, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("read meetings of %s: %w", room, err)
	}
	v = &roomView{items: make([]*item, 0, len(ms)), byID: make(map[string]*item, len(ms)), loaded: loaded}
	for i := range ms {
		m := &ms[i]
		dial := DialString(m)
		body, err := c.body.render(*m, dial)
		if err != nil {
			// The template parsed at start-up; a failure here is a field it cannot use.
			// Serve the dial string alone rather than no meeting.
			body = dial
		}
		it := &item{M: itemMeetingOf(m), ID: itemID(room, m.ID), ChangeKey: changeKey(m.Hash(), c.body.digest), DialString: dial, BodyText: body}
		v.items = append(v.items, it)
		v.byID[it.ID] = it
	}
	c.mu.Lock()
	if c.gen[room] == gen {
		c.rooms[room] = v
	}
	c.mu.Unlock()
	return v, nil
}

// between returns the items overlapping [from, to), in start order.
func (v *roomView) between(from, to time.Time) []*item {
	var out []*item
	for _, it := range v.items {
		if it.M.End.After(from) && it.M.Start.Before(to) {
			out = append(out, it)
		}
	}
	return out
}
