package ewssim

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Streaming notifications: Subscribe (StreamingSubscriptionRequest, one mailbox per request,
// impersonation only), GetStreamingEvents (a chunked response of SOAP envelopes: notifications,
// ConnectionStatus OK keepalives, Closed at ConnectionTimeout) and Unsubscribe. Changes are
// found by watching graphsim's subscribed mailboxes every WatchInterval (or on Poke).

// MaxStreamSubscriptions is the most SubscriptionIds one GetStreamingEvents may carry.
const MaxStreamSubscriptions = 200

// maxEventsPerNotification is how many queued events one notification carries.
const maxEventsPerNotification = 50

type subscription struct {
	id, mailbox, user, backend string
	types                      map[string]bool // EventTypes; empty: all
	queue                      []string        // event elements not yet sent
	attached                   int             // streams reading it now
	lastSeen                   time.Time       // last attach or detach (expiry counts from here)
}

type watchState struct {
	fp    uint64
	items map[string]string // graphsim id → changeKey
}

type stream struct {
	user string
	subs []*subscription
	wake chan struct{}
	drop chan struct{}
}

// Poke makes the watcher look for changes now (tests use it instead of waiting a tick).
func (s *Server) Poke() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// DropStreams ends the open GetStreamingEvents connections of a mailbox ("" = all) abruptly,
// without a Closed status, as a failing server or load balancer does. It returns how many.
func (s *Server) DropStreams(mailbox string) int {
	mailbox = strings.ToLower(mailbox)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for st := range s.streams {
		for _, sub := range st.subs {
			if mailbox == "" || sub.mailbox == mailbox {
				close(st.drop)
				delete(s.streams, st)
				n++
				break
			}
		}
	}
	return n
}

// Subscriptions counts live subscriptions per mailbox.
func (s *Server) Subscriptions() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, sub := range s.subs {
		out[sub.mailbox]++
	}
	return out
}

func (s *Server) watchLoop() {
	t := time.NewTicker(s.opts.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.poke:
		}
		s.scan()
	}
}

// scan compares each subscribed mailbox with its last snapshot and queues events.
func (s *Server) scan() {
	now := s.now()
	s.mu.Lock()
	s.expireLocked(now)
	boxes := map[string]*watchState{}
	for _, sub := range s.subs {
		if w := s.watch[sub.mailbox]; w != nil {
			boxes[sub.mailbox] = w
		}
	}
	for mb := range s.watch {
		if boxes[mb] == nil {
			delete(s.watch, mb) // nobody subscribed any more
		}
	}
	s.mu.Unlock()
	for mb, w := range boxes {
		fp, ok := s.gs.Fingerprint(mb)
		if !ok || fp == w.fp {
			continue
		}
		items, err := s.gs.StoredItems(mb)
		if err != nil {
			continue
		}
		ts := ewsTime(now)
		parent := `<t:ParentFolderId Id="` + folderID(mb) + `" ChangeKey="` + folderChangeKey + `"/>`
		var evs [][2]string // type, element
		cur := map[string]string{}
		for _, it := range items {
			cur[it.ID] = it.ChangeKey
			ev := ""
			switch ck, known := w.items[it.ID]; {
			case !known:
				ev = "CreatedEvent"
			case ck != it.ChangeKey:
				ev = "ModifiedEvent"
			}
			if ev != "" {
				evs = append(evs, [2]string{ev, "<t:" + ev + "><t:TimeStamp>" + ts + "</t:TimeStamp>" + itemIDXML(mb, it) + parent + "</t:" + ev + ">"})
			}
		}
		for id, ck := range w.items {
			if _, ok := cur[id]; !ok {
				evs = append(evs, [2]string{"DeletedEvent", "<t:DeletedEvent><t:TimeStamp>" + ts + `</t:TimeStamp><t:ItemId Id="` +
					encodeItemID(mb, id) + `" ChangeKey="` + ck + `"/>` + parent + "</t:DeletedEvent>"})
			}
		}
		s.mu.Lock()
		w.fp, w.items = fp, cur
		for _, sub := range s.subs {
			if sub.mailbox != mb {
				continue
			}
			for _, e := range evs {
				if len(sub.types) == 0 || sub.types[e[0]] {
					sub.queue = append(sub.queue, e[1])
				}
			}
		}
		for st := range s.streams {
			select {
			case st.wake <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

// snapshot starts watching a mailbox (called without s.mu).
func (s *Server) snapshot(mb string) *watchState {
	fp, _ := s.gs.Fingerprint(mb)
	items, _ := s.gs.StoredItems(mb)
	w := &watchState{fp: fp, items: map[string]string{}}
	for _, it := range items {
		w.items[it.ID] = it.ChangeKey
	}
	return w
}

// Backend is the mailbox server a mailbox (or an account's address) lives on, as autodiscover's
// GroupingInformation names it: EXCH01 … EXCHnn for Settings.Backends servers.
func (s *Server) Backend(mailbox string) string {
	s.mu.Lock()
	n := s.settings.Backends
	s.mu.Unlock()
	return backendFor(mailbox, n)
}

func backendFor(mailbox string, backends int) string {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(strings.TrimSpace(mailbox))))
	return fmt.Sprintf("EXCH%02d", h.Sum32()%uint32(max(1, backends))+1)
}

const affinityCookie = "X-BackEndOverrideCookie"

func (s *Server) subscribe(w http.ResponseWriter, rc *reqCtx) string {
	const op = "Subscribe"
	req := rc.body.child("StreamingSubscriptionRequest")
	if req == nil {
		return opResponse(op, []respMsg{{code: "ErrorInvalidOperation", message: "This simulator supports streaming subscriptions only (StreamingSubscriptionRequest)."}})
	}
	if rc.impersonated == "" {
		return opResponse(op, []respMsg{errMsg("ErrorSubscriptionDelegateAccessNotSupported")})
	}
	folders := req.child("FolderIds")
	if folders == nil || len(folders.Nodes) == 0 {
		return opResponse(op, []respMsg{errMsg("ErrorFolderNotFound")})
	}
	var mailbox string
	for i := range folders.Nodes {
		mb, code := s.access(rc, &folders.Nodes[i])
		if code == "ErrorAccessDenied" && mb == "" && folders.Nodes[i].path("Mailbox", "EmailAddress") != nil {
			return opResponse(op, []respMsg{errMsg("ErrorInvalidSubscriptionRequest")}) // another mailbox in the same request
		}
		if code != "" {
			return opResponse(op, []respMsg{errMsg(code)})
		}
		mailbox = mb
	}
	types := map[string]bool{}
	for _, e := range req.child("EventTypes").all("EventType") {
		types[e.text()] = true
	}
	// The request is routed by the affinity cookie, else by X-AnchorMailbox; the first
	// Subscribe of a group asks for the cookie that pins its server. The subscription itself
	// lives where the mailbox's events are raised: on the mailbox's own server. A group that
	// mixes servers (GroupingInformation values) thus has subscriptions its stream's server
	// does not hold.
	if _, err := rc.r.Cookie(affinityCookie); err != nil && strings.EqualFold(rc.r.Header.Get("X-PreferServerAffinity"), "true") {
		anchor := rc.r.Header.Get("X-AnchorMailbox")
		if anchor == "" {
			anchor = mailbox
		}
		http.SetCookie(w, &http.Cookie{Name: affinityCookie, Value: s.Backend(anchor) + "~" + strconv.Itoa(int(time.Now().Unix())), Path: "/", Secure: true, HttpOnly: true})
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	sub := &subscription{id: base64.StdEncoding.EncodeToString(raw[:]), mailbox: mailbox, user: rc.user, backend: s.Backend(mailbox), types: types, lastSeen: s.now()}
	s.mu.Lock()
	need := s.watch[mailbox] == nil
	s.mu.Unlock()
	var snap *watchState
	if need {
		snap = s.snapshot(mailbox)
	}
	s.mu.Lock()
	if s.watch[mailbox] == nil && snap != nil {
		s.watch[mailbox] = snap
	}
	s.subs[sub.id] = sub
	s.mu.Unlock()
	return opResponse(op, []respMsg{{inner: "<m:SubscriptionId>" + sub.id + "</m:SubscriptionId>"}})
}

// expireLocked forgets subscriptions nobody has read for SubscriptionTTL (s.mu held).
func (s *Server) expireLocked(now time.Time) {
	for id, sub := range s.subs {
		if sub.attached == 0 && now.Sub(sub.lastSeen) > s.opts.SubscriptionTTL {
			delete(s.subs, id)
		}
	}
}

func (s *Server) unsubscribe(rc *reqCtx) string {
	id := rc.body.child("SubscriptionId").text()
	s.mu.Lock()
	s.expireLocked(s.now())
	_, ok := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if !ok {
		return opResponse("Unsubscribe", []respMsg{errMsg("ErrorSubscriptionNotFound")})
	}
	return opResponse("Unsubscribe", []respMsg{{}})
}

func streamMsg(inner string) string {
	return `<s:Envelope xmlns:s="` + nsSOAP + `"><s:Header>` + serverVersionInfo() + `</s:Header><s:Body>` +
		opResponse("GetStreamingEvents", []respMsg{{inner: inner}}) + `</s:Body></s:Envelope>`
}

func (s *Server) getStreamingEvents(w http.ResponseWriter, rc *reqCtx) {
	const op = "GetStreamingEvents"
	minutes, err := strconv.Atoi(rc.body.child("ConnectionTimeout").text())
	if err != nil || minutes < 1 || minutes > 30 {
		writeFault(w, &fault{code: "ErrorSchemaValidation", message: "The request failed schema validation: ConnectionTimeout must be 1 to 30 (minutes)."})
		return
	}
	ids := rc.body.child("SubscriptionIds").all("SubscriptionId")
	if len(ids) == 0 || len(ids) > MaxStreamSubscriptions {
		writeXML(w, http.StatusOK, envelope(opResponse(op, []respMsg{{code: "ErrorInvalidArgument", message: "SubscriptionIds must hold 1 to 200 ids."}})))
		return
	}
	backend := ""
	if c, err := rc.r.Cookie(affinityCookie); err == nil {
		backend, _, _ = strings.Cut(c.Value, "~")
	}
	now := s.now()
	s.mu.Lock()
	s.expireLocked(now)
	var subs []*subscription
	var bad []string
	for _, n := range ids {
		sub := s.subs[n.text()]
		switch {
		case sub == nil, sub.user != rc.user, sub.attached == 0 && now.Sub(sub.lastSeen) > s.opts.SubscriptionTTL:
			bad = append(bad, n.text())
		case s.settings.RequireAffinity && backend != sub.backend:
			// Routed (by the cookie) to another server than the one holding the subscription.
			s.stats.AffinityRefusals++
			bad = append(bad, n.text())
		default:
			subs = append(subs, sub)
		}
	}
	acc := s.accounts[rc.user]
	if len(bad) > 0 || acc == nil {
		s.mu.Unlock()
		var b strings.Builder
		for _, id := range bad {
			b.WriteString("<m:SubscriptionId>" + esc(id) + "</m:SubscriptionId>")
		}
		m := errMsg("ErrorSubscriptionNotFound")
		m.inner = "<m:ErrorSubscriptionIds>" + b.String() + "</m:ErrorSubscriptionIds>"
		writeXML(w, http.StatusOK, envelope(opResponse(op, []respMsg{m})))
		return
	}
	if acc.streams >= s.settings.HangingConnectionLimit {
		s.mu.Unlock()
		writeXML(w, http.StatusOK, envelope(opResponse(op, []respMsg{errMsg("ErrorExceededConnectionCount")})))
		return
	}
	acc.streams++
	s.stats.peakStreams(rc.user, acc.streams)
	st := &stream{user: rc.user, subs: subs, wake: make(chan struct{}, 1), drop: make(chan struct{})}
	for _, sub := range subs {
		sub.attached++
	}
	s.streams[st] = true
	keepAlive := s.opts.KeepAlive
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		acc.streams--
		delete(s.streams, st)
		for _, sub := range subs {
			sub.attached--
			sub.lastSeen = s.now()
		}
		s.mu.Unlock()
	}()

	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	send := func(inner string) bool {
		if _, err := w.Write([]byte(streamMsg(inner))); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !send("<m:ConnectionStatus>OK</m:ConnectionStatus>") {
		return
	}
	timeout := time.NewTimer(time.Duration(minutes) * s.opts.StreamMinute)
	defer timeout.Stop()
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	st.wake <- struct{}{} // deliver what queued while nobody was connected
	for {
		select {
		case <-st.wake:
			if !s.flushEvents(st, send) {
				return
			}
		case <-ka.C:
			if !send("<m:ConnectionStatus>OK</m:ConnectionStatus>") {
				return
			}
		case <-timeout.C:
			s.flushEvents(st, send)
			send("<m:ConnectionStatus>Closed</m:ConnectionStatus>")
			return
		case <-st.drop:
			panic(http.ErrAbortHandler) // cut the connection mid-stream
		case <-rc.r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}

// flushEvents sends the queued events of a stream's subscriptions, 50 per notification.
func (s *Server) flushEvents(st *stream, send func(string) bool) bool {
	for _, sub := range st.subs {
		for {
			s.mu.Lock()
			n := min(len(sub.queue), maxEventsPerNotification)
			batch := append([]string(nil), sub.queue[:n]...)
			sub.queue = sub.queue[n:]
			s.mu.Unlock()
			if n == 0 {
				break
			}
			// Counted as it is handed to the connection, so a client that has read it sees it
			// counted (counting after the write raced the reader).
			s.countNotifications(sub.mailbox, n)
			if !send("<m:Notifications><m:Notification><t:SubscriptionId>" + sub.id + "</t:SubscriptionId>" + strings.Join(batch, "") +
				"</m:Notification></m:Notifications>") {
				return false
			}
		}
	}
	return true
}
