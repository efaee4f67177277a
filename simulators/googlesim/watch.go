package googlesim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// events.watch push channels (Google's "Push notifications" guide): a sync message when the
// channel opens, then "exists" whenever the calendar's events change ("not_exists" when the
// calendar disappears), POSTed with X-Goog-* headers to an HTTPS address whose certificate
// chains to a trusted root; channels.stop; expiry; and an admin fault that loses messages.

type channel struct {
	id, resourceID, resourceURI, token, address, mailbox string
	expiration                                           time.Time
	msgNum                                               int64
	lastFP                                               uint64
	lastOverlay                                          uint64
	gone                                                 bool
	queue                                                chan string
	stop                                                 chan struct{}
}

// Channel describes a live channel (GET /google/channels).
type Channel struct {
	ID         string    `json:"id"`
	ResourceID string    `json:"resource_id"`
	Calendar   string    `json:"calendar"` // mailbox
	Address    string    `json:"address"`
	Expiration time.Time `json:"expiration"`
	Messages   int64     `json:"last_message_number"`
}

var channelIDRE = regexp.MustCompile(`^[A-Za-z0-9\-_+/=]{1,64}$`)

func resourceID(mb string) string {
	h := sha256.Sum256([]byte("events/" + mb))
	return base64.RawURLEncoding.EncodeToString(h[:20])
}

func (s *Server) eventsWatch(w http.ResponseWriter, r *http.Request, at *accessToken) {
	calID := r.PathValue("calendarId")
	mb, ok := s.resolve(calID)
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
		return
	}
	if !s.canRead(at.principal, mb) {
		writeError(w, http.StatusForbidden, "forbidden", "global", "Forbidden")
		return
	}
	var req struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Address    string `json:"address"`
		Token      string `json:"token"`
		Expiration string `json:"expiration"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err := json.Unmarshal(b, &req); err != nil {
		writeError(w, http.StatusBadRequest, "parseError", "global", "Parse Error")
		return
	}
	switch {
	case !channelIDRE.MatchString(req.ID):
		writeAPIError(w, badParam("id", "Invalid channel id: "+req.ID))
		return
	case req.Type != "web_hook" && req.Type != "webhook":
		writeAPIError(w, badParam("type", "Invalid channel type: "+req.Type))
		return
	case len(req.Token) > 256:
		writeAPIError(w, badParam("token", "Channel token too long."))
		return
	}
	u, err := url.Parse(req.Address)
	if err != nil || u.Scheme != "https" {
		writeAPIError(w, newAPIError(400, "push.webhookUrlNotHttps", "push", "WebHook callback must be HTTPS: "+req.Address))
		return
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		writeAPIError(w, newAPIError(401, "push.webhookUrlUnauthorized", "global", "Unauthorized WebHook callback channel: "+req.Address))
		return
	}
	now := s.now()
	exp := now.Add(s.opts.ChannelTTL)
	if req.Expiration != "" {
		ms, err := strconv.ParseInt(req.Expiration, 10, 64)
		if err != nil {
			writeAPIError(w, badParam("expiration", "Invalid expiration: "+req.Expiration))
			return
		}
		if t := time.UnixMilli(ms); ms > 0 && t.Before(exp) {
			exp = t
		}
	}
	fp, _ := s.gs.Fingerprint(mb)
	ch := &channel{id: req.ID, resourceID: resourceID(mb), token: req.Token, address: req.Address, mailbox: mb, expiration: exp,
		resourceURI: s.CalendarEndpoint() + "calendars/" + url.PathEscape(calID) + "/events?alt=json",
		lastFP:      fp, queue: make(chan string, 64), stop: make(chan struct{})}
	s.mu.Lock()
	if _, dup := s.channels[req.ID]; dup {
		s.mu.Unlock()
		writeAPIError(w, newAPIError(400, "channelIdNotUnique", "global", "Channel id "+req.ID+" not unique"))
		return
	}
	ch.lastOverlay = s.overlaySeq
	s.channels[req.ID] = ch
	s.mu.Unlock()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		s.deliver(ch)
	}()
	ch.queue <- "sync" // may arrive before this answer, as the guide warns
	writeJSON(w, http.StatusOK, map[string]any{"kind": "api#channel", "id": ch.id, "resourceId": ch.resourceID,
		"resourceUri": ch.resourceURI, "token": ch.token, "expiration": strconv.FormatInt(exp.UnixMilli(), 10)})
}

func (s *Server) channelsStop(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	var req struct {
		ID         string `json:"id"`
		ResourceID string `json:"resourceId"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err := json.Unmarshal(b, &req); err != nil {
		writeError(w, http.StatusBadRequest, "parseError", "global", "Parse Error")
		return
	}
	s.mu.Lock()
	ch := s.channels[req.ID]
	if ch == nil || ch.resourceID != req.ResourceID {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "notFound", "global", fmt.Sprintf("Channel '%s' not found for project '%s'", req.ID, s.opts.Project))
		return
	}
	delete(s.channels, req.ID)
	close(ch.stop)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Channels lists the live channels.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Channel{}
	for _, ch := range s.channels {
		out = append(out, Channel{ID: ch.id, ResourceID: ch.resourceID, Calendar: ch.mailbox, Address: ch.address,
			Expiration: ch.expiration, Messages: ch.msgNum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LoseNotifications makes the next n notifications vanish (n < 0: all until called with 0),
// as Google warns they may.
func (s *Server) LoseNotifications(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// Poke checks the watched calendars for changes now.
func (s *Server) Poke() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
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
		s.checkChannels()
	}
}

// checkChannels expires channels and queues "exists"/"not_exists" for changed calendars.
func (s *Server) checkChannels() {
	now := s.now()
	s.mu.Lock()
	chans := make([]*channel, 0, len(s.channels))
	for id, ch := range s.channels {
		if !now.Before(ch.expiration) {
			delete(s.channels, id)
			close(ch.stop)
			continue
		}
		chans = append(chans, ch)
	}
	ovSeq := s.overlaySeq
	s.mu.Unlock()
	for _, ch := range chans {
		fp, ok := s.gs.Fingerprint(ch.mailbox)
		state := ""
		switch {
		case !ok && !ch.gone:
			ch.gone, state = true, "not_exists"
		case ok && (fp != ch.lastFP || ovSeq != ch.lastOverlay || ch.gone):
			ch.gone, state = false, "exists"
		}
		ch.lastFP, ch.lastOverlay = fp, ovSeq
		if state != "" {
			select {
			case ch.queue <- state:
			default: // a backlog already tells the client to sync
			}
		}
	}
}

// deliver posts a channel's notifications in order until the channel stops.
func (s *Server) deliver(ch *channel) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.opts.WebhookRoots.Pool(), MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	for {
		var state string
		select {
		case <-s.stop:
			return
		case <-ch.stop:
			return
		case state = <-ch.queue:
		}
		s.mu.Lock()
		if state == "sync" {
			ch.msgNum = 1
		} else {
			ch.msgNum += 1 + int64(len(state)%3) // increasing, not sequential
		}
		num := ch.msgNum
		lost := s.lose != 0
		if s.lose > 0 {
			s.lose--
		}
		if lost {
			s.stats.NotificationsLost++
		}
		s.mu.Unlock()
		if lost {
			continue
		}
		ok := false
		for attempt, backoff := 0, 100*time.Millisecond; attempt < 4 && !ok; attempt, backoff = attempt+1, backoff*2 {
			status := s.post(client, ch, state, num)
			ok = status >= 200 && status < 300 || status == http.StatusProcessing
			if ok || (status < 500 && status != 0) {
				break
			}
			select {
			case <-time.After(backoff): // Google retries 5xx with exponential backoff
			case <-ch.stop:
				return
			case <-s.stop:
				return
			}
		}
		s.mu.Lock()
		if ok {
			s.stats.Notifications++
			s.stats.cal(ch.mailbox).Notifications++
		} else {
			s.stats.NotificationsFailed++
		}
		s.mu.Unlock()
	}
}

func (s *Server) post(client *http.Client, ch *channel, state string, num int64) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.address, bytes.NewReader(nil))
	if err != nil {
		return 0
	}
	req.Header.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
	req.Header.Set("X-Goog-Channel-ID", ch.id)
	req.Header.Set("X-Goog-Channel-Expiration", ch.expiration.UTC().Format(http.TimeFormat))
	req.Header.Set("X-Goog-Resource-ID", ch.resourceID)
	req.Header.Set("X-Goog-Resource-URI", ch.resourceURI)
	req.Header.Set("X-Goog-Resource-State", state)
	req.Header.Set("X-Goog-Message-Number", strconv.FormatInt(num, 10))
	if ch.token != "" {
		req.Header.Set("X-Goog-Channel-Token", ch.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		s.log.Debug("googlesim notification failed", "channel", ch.id, "err", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
