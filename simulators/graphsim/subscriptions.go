package graphsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Change notifications (webhooks) for room calendars: POST/GET/PATCH/DELETE /v1.0/subscriptions
// with Graph's validation handshake, expiry limits and errors, notifications POSTed to the
// subscriber on every change to the room's events, lifecycle notifications on request (admin),
// and notification faults (lost, delayed, duplicated).
//
// The simulator only ever calls loopback HTTPS URLs, trusting its own CA: a test or the demo
// puts a TLS listener (a reverse proxy, as on a real site) with a certificate from CA() in front
// of the agent's notification listener.

// SubscriptionMaxLifetime is the longest an Outlook event subscription without resource data
// may live (10,080 minutes, Graph's current documentation).
const SubscriptionMaxLifetime = 10080 * time.Minute

// validationTimeout is how long Graph waits for the validation answer.
const validationTimeout = 10 * time.Second

// Lifecycle events Graph sends to lifecycleNotificationUrl.
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// NotifyFaultKind names what a notification fault does.
type NotifyFaultKind string

// Notification fault kinds.
const (
	NotifyLost       NotifyFaultKind = "lost"       // never delivered
	NotifyDelayed    NotifyFaultKind = "delayed"    // held for Delay (simulator time), see FlushNotifications
	NotifyDuplicated NotifyFaultKind = "duplicated" // delivered twice
)

// NotifyFault applies to the change notifications of Mailbox ("" = any), Count times (0 =
// until removed).
type NotifyFault struct {
	ID      int             `json:"id"`
	Kind    NotifyFaultKind `json:"kind"`
	Mailbox string          `json:"mailbox,omitempty"`
	Delay   Duration        `json:"delay,omitempty"`
	Count   int             `json:"count,omitempty"`
	Hits    int             `json:"hits"`
}

// NotifyStats are the simulator's subscription and notification counters.
type NotifyStats struct {
	Creates       int `json:"creates"`
	Renewals      int `json:"renewals"`
	Deletes       int `json:"deletes"`
	Validations   int `json:"validations"`    // validation requests sent
	ValidationBad int `json:"validation_bad"` // ... not answered as Graph requires
	Delivered     int `json:"delivered"`      // notification POSTs answered 2xx
	Failed        int `json:"failed"`         // ... answered otherwise or not at all
	Lost          int `json:"lost"`
	Delayed       int `json:"delayed"`
	Duplicated    int `json:"duplicated"`
	Lifecycle     int `json:"lifecycle"` // lifecycle notifications sent
}

// Subscription is a subscription as the admin API shows it (its clientState is the
// subscriber's secret and is not shown, as Graph does not return it).
type Subscription struct {
	ID                       string    `json:"id"`
	Mailbox                  string    `json:"mailbox"`
	Resource                 string    `json:"resource"`
	ChangeType               string    `json:"changeType"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
}

type subscription struct {
	Subscription
	clientState string
	changes     []string
}

type heldNotification struct {
	due  time.Time
	url  string
	body []byte
}

// notifyState is the simulator's subscriptions (under Server.mu).
type notifyState struct {
	subs     map[string]*subscription
	faults   []*NotifyFault
	faultSeq int
	held     []heldNotification
	stats    NotifyStats
	closed   bool
	wg       sync.WaitGroup // deliveries in flight
}

// notifyClient calls subscribers: the simulator's CA, loopback only.
func (s *Server) notifyClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool(), MinVersion: tls.VersionTLS12}}}
}

// checkNotifyURL refuses what Graph refuses (not https) and what the simulator never calls
// (anything but loopback).
func checkNotifyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("The notification URL '%s' is not a valid absolute URL.", raw)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("The Uri scheme '%s' is not supported; notificationUrl must be https.", u.Scheme)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("graphsim only calls loopback addresses; '%s' is not one.", host)
	}
	return nil
}

// validate sends Graph's validation request and checks the answer: 200, text/plain, the token.
func (s *Server) validate(ctx context.Context, target string) bool {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newGUID()
	u, _ := url.Parse(target)
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	s.mu.Lock()
	s.notify.stats.Validations++
	s.mu.Unlock()
	ok := false
	if resp, err := s.notifyClient(validationTimeout).Do(req); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		ok = resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") && string(body) == token
	}
	if !ok {
		s.mu.Lock()
		s.notify.stats.ValidationBad++
		s.mu.Unlock()
	}
	return ok
}

// serveSubscriptions handles /v1.0/subscriptions[/{id}] (the token is already checked).
func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request, path string) {
	id := strings.Trim(strings.TrimPrefix(path, "/subscriptions"), "/")
	var resp gResp
	switch {
	case id == "" && r.Method == http.MethodPost:
		resp = s.createSubscription(r)
	case id == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		s.pruneSubscriptions()
		list := []any{}
		for _, sub := range s.notify.subs {
			list = append(list, s.subscriptionJSON(sub))
		}
		s.mu.Unlock()
		resp = gResp{status: http.StatusOK, body: map[string]any{"@odata.context": s.graphBase + "/v1.0/$metadata#subscriptions", "value": list}}
	case id != "" && r.Method == http.MethodGet:
		s.mu.Lock()
		s.pruneSubscriptions()
		sub := s.notify.subs[id]
		if sub != nil {
			resp = gResp{status: http.StatusOK, body: s.subscriptionJSON(sub)}
		}
		s.mu.Unlock()
		if sub == nil {
			resp = errResp(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		}
	case id != "" && r.Method == http.MethodPatch:
		resp = s.renewSubscription(r, id)
	case id != "" && r.Method == http.MethodDelete:
		s.mu.Lock()
		s.pruneSubscriptions()
		_, ok := s.notify.subs[id]
		delete(s.notify.subs, id)
		if ok {
			s.notify.stats.Deletes++
		}
		s.mu.Unlock()
		if !ok {
			resp = errResp(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		} else {
			w.Header().Set("request-id", newGUID())
			w.WriteHeader(http.StatusNoContent)
			return
		}
	default:
		resp = errResp(http.StatusMethodNotAllowed, "BadRequest", "Unsupported method on subscriptions.")
	}
	s.flushDue()
	s.writeResp(w, resp)
}

func (s *Server) subscriptionJSON(sub *subscription) map[string]any {
	return map[string]any{"@odata.context": s.graphBase + "/v1.0/$metadata#subscriptions/$entity", "id": sub.ID, "resource": sub.Resource,
		"changeType": sub.ChangeType, "notificationUrl": sub.NotificationURL, "lifecycleNotificationUrl": nullable(sub.LifecycleNotificationURL),
		"expirationDateTime": sub.ExpirationDateTime.UTC().Format(time.RFC3339Nano), "clientState": nil, "applicationId": s.opts.ClientID,
		"creatorId": s.opts.ClientID, "latestSupportedTlsVersion": "v1_2", "includeResourceData": false}
}

func nullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// pruneSubscriptions forgets expired subscriptions (under s.mu).
func (s *Server) pruneSubscriptions() {
	now := s.now()
	for id, sub := range s.notify.subs {
		if !sub.ExpirationDateTime.After(now) {
			delete(s.notify.subs, id)
		}
	}
}

func extErr(status int, op, reason string) gResp {
	return errResp(status, "ExtensionError", fmt.Sprintf("Operation: %s; Exception: [Status Code: %s; Reason: %s]", op, http.StatusText(status), reason))
}

// checkExpiry applies Graph's limits to a requested expirationDateTime.
func (s *Server) checkExpiry(v string) (time.Time, *gResp) {
	exp, err := time.Parse(time.RFC3339Nano, v)
	now := s.now()
	switch {
	case err != nil:
		r := errResp(http.StatusBadRequest, "InvalidRequest", "expirationDateTime is required and must be an ISO 8601 date and time.")
		return exp, &r
	case !exp.After(now):
		r := errResp(http.StatusBadRequest, "InvalidRequest", "Subscription expiration must be in the future.")
		return exp, &r
	case exp.Sub(now) > SubscriptionMaxLifetime:
		r := errResp(http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(SubscriptionMaxLifetime/time.Minute)))
		return exp, &r
	}
	return exp, nil
}

func (s *Server) createSubscription(r *http.Request) gResp {
	var in struct {
		ChangeType               string `json:"changeType"`
		NotificationURL          string `json:"notificationUrl"`
		LifecycleNotificationURL string `json:"lifecycleNotificationUrl"`
		Resource                 string `json:"resource"`
		ExpirationDateTime       string `json:"expirationDateTime"`
		ClientState              string `json:"clientState"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(body, &in) != nil {
		return errResp(http.StatusBadRequest, "BadRequest", "Invalid subscription payload.")
	}
	var changes []string
	for _, c := range strings.Split(in.ChangeType, ",") {
		c = strings.TrimSpace(c)
		if c != "created" && c != "updated" && c != "deleted" {
			return errResp(http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("Invalid changeType '%s': want created, updated and/or deleted.", c))
		}
		changes = append(changes, c)
	}
	if len(in.ClientState) > 128 {
		return errResp(http.StatusBadRequest, "InvalidRequest", "clientState may be at most 128 characters.")
	}
	// Graph validates each endpoint; one URL for both is validated once.
	endpoints := []string{in.NotificationURL}
	if in.LifecycleNotificationURL != "" && in.LifecycleNotificationURL != in.NotificationURL {
		endpoints = append(endpoints, in.LifecycleNotificationURL)
	}
	for _, u := range endpoints {
		if err := checkNotifyURL(u); err != nil {
			return errResp(http.StatusBadRequest, "InvalidRequest", err.Error())
		}
	}
	parts := strings.Split(strings.Trim(in.Resource, "/"), "/")
	if len(parts) != 3 || !strings.EqualFold(parts[0], "users") || !strings.EqualFold(parts[2], "events") {
		return errResp(http.StatusBadRequest, "InvalidRequest", "Resource '"+in.Resource+"' is not supported: use users/{id}/events.")
	}
	user := strings.ToLower(parts[1])
	exp, bad := s.checkExpiry(in.ExpirationDateTime)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	mb := s.boxes[user]
	var refused *gResp
	switch {
	case mb == nil:
		rr := extErr(http.StatusNotFound, "Create", "The requested user '"+user+"' is invalid.")
		refused = &rr
	case !mb.restEnabled:
		rr := extErr(http.StatusNotFound, "Create", "REST API is not yet supported for this mailbox.")
		refused = &rr
	case !mb.inPolicy:
		rr := extErr(http.StatusForbidden, "Create", "Access to OData is disabled.")
		refused = &rr
	}
	s.mu.Unlock()
	if refused != nil {
		return *refused
	}
	for _, u := range endpoints {
		if !s.validate(r.Context(), u) {
			return errResp(http.StatusBadRequest, "ValidationError",
				"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
		}
	}
	sub := &subscription{Subscription: Subscription{ID: newGUID(), Mailbox: user, Resource: in.Resource, ChangeType: in.ChangeType,
		NotificationURL: in.NotificationURL, LifecycleNotificationURL: in.LifecycleNotificationURL, ExpirationDateTime: exp},
		clientState: in.ClientState, changes: changes}
	s.mu.Lock()
	if s.notify.subs == nil {
		s.notify.subs = map[string]*subscription{}
	}
	s.notify.subs[sub.ID] = sub
	s.notify.stats.Creates++
	out := s.subscriptionJSON(sub)
	s.mu.Unlock()
	return gResp{status: http.StatusCreated, body: out}
}

func (s *Server) renewSubscription(r *http.Request, id string) gResp {
	var in struct {
		ExpirationDateTime string `json:"expirationDateTime"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if json.Unmarshal(body, &in) != nil {
		return errResp(http.StatusBadRequest, "BadRequest", "Invalid subscription payload.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneSubscriptions()
	sub := s.notify.subs[id]
	if sub == nil {
		return errResp(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
	}
	exp, bad := s.checkExpiry(in.ExpirationDateTime)
	if bad != nil {
		return *bad
	}
	sub.ExpirationDateTime = exp
	s.notify.stats.Renewals++
	return gResp{status: http.StatusOK, body: s.subscriptionJSON(sub)}
}

// eventChanged notifies the room's subscribers of a change to one of its events (under s.mu;
// called by the calendar operations).
func (s *Server) eventChanged(mb *mailbox, id, change string) {
	now := s.now()
	for _, sub := range s.notify.subs {
		if sub.Mailbox != mb.addr || !sub.ExpirationDateTime.After(now) || !slices.Contains(sub.changes, change) {
			continue
		}
		resource := "Users/" + mb.addr + "/Events/" + id
		n := map[string]any{"subscriptionId": sub.ID, "subscriptionExpirationDateTime": sub.ExpirationDateTime.UTC().Format(time.RFC3339Nano),
			"changeType": change, "resource": resource, "clientState": sub.clientState, "tenantId": s.opts.Tenant,
			"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "id": id}}
		body, _ := json.Marshal(map[string]any{"value": []any{n}})
		copies, delay := 1, time.Duration(0)
		if f := s.takeNotifyFault(mb.addr); f != nil {
			switch f.Kind {
			case NotifyLost:
				s.notify.stats.Lost++
				copies = 0
			case NotifyDuplicated:
				s.notify.stats.Duplicated++
				copies = 2
			case NotifyDelayed:
				s.notify.stats.Delayed++
				delay = f.Delay.d()
			}
		}
		for range copies {
			if delay > 0 {
				s.notify.held = append(s.notify.held, heldNotification{due: now.Add(delay), url: sub.NotificationURL, body: body})
				continue
			}
			s.post(sub.NotificationURL, body)
		}
	}
}

// post delivers a notification in the background (under s.mu).
func (s *Server) post(target string, body []byte) {
	if s.notify.closed {
		return
	}
	s.notify.wg.Add(1)
	go func() {
		defer s.notify.wg.Done()
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ok := false
		if resp, err := s.notifyClient(30 * time.Second).Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			ok = resp.StatusCode >= 200 && resp.StatusCode < 300
		}
		s.mu.Lock()
		if ok {
			s.notify.stats.Delivered++
		} else {
			s.notify.stats.Failed++
		}
		s.mu.Unlock()
	}()
}

// takeNotifyFault returns the first notification fault for the mailbox and counts its hit
// (under s.mu).
func (s *Server) takeNotifyFault(mailbox string) *NotifyFault {
	for i, f := range s.notify.faults {
		if f.Mailbox != "" && f.Mailbox != mailbox {
			continue
		}
		f.Hits++
		hit := *f
		if f.Count > 0 && f.Hits >= f.Count {
			s.notify.faults = slices.Delete(s.notify.faults, i, i+1)
		}
		return &hit
	}
	return nil
}

// AddNotifyFault injects a notification fault and returns its id.
func (s *Server) AddNotifyFault(f NotifyFault) (int, error) {
	switch f.Kind {
	case NotifyLost, NotifyDuplicated:
	case NotifyDelayed:
		if f.Delay <= 0 {
			return 0, fmt.Errorf("a delayed notification fault needs a delay")
		}
	default:
		return 0, fmt.Errorf("notification fault kind %q: want lost, delayed or duplicated", f.Kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify.faultSeq++
	f.ID, f.Hits, f.Mailbox = s.notify.faultSeq, 0, strings.ToLower(f.Mailbox)
	s.notify.faults = append(s.notify.faults, &f)
	return f.ID, nil
}

// ClearNotifyFaults removes every notification fault.
func (s *Server) ClearNotifyFaults() {
	s.mu.Lock()
	s.notify.faults = nil
	s.mu.Unlock()
}

// FlushNotifications delivers the delayed notifications whose delay has passed (simulator
// time). Subscription requests also flush; with a fake clock, tests call it after moving time.
func (s *Server) FlushNotifications() { s.flushDue() }

func (s *Server) flushDue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	keep := s.notify.held[:0]
	for _, h := range s.notify.held {
		if h.due.After(now) {
			keep = append(keep, h)
			continue
		}
		s.post(h.url, h.body)
	}
	s.notify.held = keep
}

// Subscriptions lists the live subscriptions.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneSubscriptions()
	out := []Subscription{}
	for _, sub := range s.notify.subs {
		out = append(out, sub.Subscription)
	}
	slices.SortFunc(out, func(a, b Subscription) int { return strings.Compare(a.Mailbox+a.ID, b.Mailbox+b.ID) })
	return out
}

// NotifyStats returns the subscription and notification counters.
func (s *Server) NotifyStats() NotifyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify.stats
}

// Lifecycle sends a lifecycle notification (reauthorizationRequired, subscriptionRemoved,
// missed) for a subscription to its lifecycleNotificationUrl; subscriptionRemoved also removes
// the subscription, as Graph does.
func (s *Server) Lifecycle(id, event string) error {
	switch event {
	case LifecycleReauthorizationRequired, LifecycleSubscriptionRemoved, LifecycleMissed:
	default:
		return errBadRequest(fmt.Sprintf("lifecycle event %q: want %s, %s or %s", event,
			LifecycleReauthorizationRequired, LifecycleSubscriptionRemoved, LifecycleMissed))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneSubscriptions()
	sub := s.notify.subs[id]
	if sub == nil {
		return fmt.Errorf("subscription %s: %w", id, ErrNotFound)
	}
	if sub.LifecycleNotificationURL == "" {
		return errBadRequest("subscription " + id + " has no lifecycleNotificationUrl: Graph sends it no lifecycle events")
	}
	n := map[string]any{"subscriptionId": sub.ID, "subscriptionExpirationDateTime": sub.ExpirationDateTime.UTC().Format(time.RFC3339Nano),
		"tenantId": s.opts.Tenant, "clientState": sub.clientState, "lifecycleEvent": event}
	body, _ := json.Marshal(map[string]any{"value": []any{n}})
	if event == LifecycleSubscriptionRemoved {
		delete(s.notify.subs, id)
	}
	s.notify.stats.Lifecycle++
	s.post(sub.LifecycleNotificationURL, body)
	return nil
}

// DeleteSubscription removes a subscription without telling its subscriber (an admin or
// Graph's own cleanup; no lifecycle notification).
func (s *Server) DeleteSubscription(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.notify.subs[id]; !ok {
		return fmt.Errorf("subscription %s: %w", id, ErrNotFound)
	}
	delete(s.notify.subs, id)
	return nil
}

// WaitNotifications waits until every notification sent so far has been answered (tests).
func (s *Server) WaitNotifications() { s.notify.wg.Wait() }

// closeNotify stops new deliveries and waits for those in flight (Close).
func (s *Server) closeNotify() {
	s.mu.Lock()
	s.notify.closed = true
	s.mu.Unlock()
	s.notify.wg.Wait()
}
