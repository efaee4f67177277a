// Package polysim simulates a fleet of Poly endpoints in one process. Each endpoint is a strict
// EWS client that polls its calendar server as a Poly endpoint's calendaring service does
// (GetFolder → FindItem with a CalendarView → GetItem for new or changed items), finds the dial
// string in each item's Location and Body with configurable patterns, and shows the result on a
// VideoOS-like REST surface (/rest/session, /rest/system, /rest/calendar,
// /rest/calendar/meetings with canDial). An admin API (plain HTTP on loopback, JSON) tells what
// each endpoint shows, polls on demand, and injects faults: a wrong password, stopped polling,
// junk requests, a reboot. Tests use it in-process; otj-sim runs it for the demo.
package polysim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Calendar states, as VideoOS reports them (GET /rest/calendar).
const (
	StateDisabled   = "DISABLED"
	StateConnecting = "CONNECTING"
	StateOnline     = "ONLINE"
	StateOffline    = "OFFLINE"
	StateAuthError  = "ERR_AUTHENTICATION"
	StateUnknownErr = "ERR_UNKNOWN"
)

// EndpointOptions configure one simulated endpoint, like the calendaring page of a real one.
type EndpointOptions struct {
	Name string
	// Room is the mailbox the endpoint asks for (the "Email" field).
	Room string
	// EWSURL is the calendar server: https://host:port/EWS/Exchange.asmx. Empty: calendaring
	// is disabled.
	EWSURL string
	// Domain, if set, is sent as DOMAIN\user.
	Domain   string
	Username string
	Password string
	// RootCAs verifies the server's certificate (nil: the system roots).
	RootCAs *x509.CertPool
	// PollInterval is the time between polls; 0 polls only when asked (PollNow, admin API).
	PollInterval time.Duration
	// LookAhead is how far ahead the calendar view reaches (default 7 days); it starts one
	// day back.
	LookAhead time.Duration
	// MaxEntries is FindItem's MaxEntriesReturned (default 50).
	MaxEntries int
	// RequestServerVersion is sent in every request (default Exchange2010).
	RequestServerVersion string
	// DialPatterns find the dial string (RE2; group 1 if any, else the match), tried on the
	// Location then on the Body; default DefaultDialPatterns.
	DialPatterns []string
	// ShowPrivate shows private meetings' subjects; otherwise they read "Private Meeting".
	ShowPrivate bool
	// Autodiscover sends a POX autodiscover request before the first poll.
	Autodiscover bool
	// LenientOrder accepts CalendarItem elements out of schema order.
	LenientOrder bool
	// RESTUser and RESTPassword log in to the endpoint's REST API (default admin / Polycom12345).
	RESTUser     string
	RESTPassword string
	// Model and Software are what /rest/system reports.
	Model    string
	Software string
}

// DefaultDialPatterns are what a Poly endpoint's calendar recognises as dialable: a SIP URI, an
// h323: URI, a bare alias@domain, an IPv4 address (with an optional ##extension) or an E.164
// number.
var DefaultDialPatterns = []string{
	`(?i)\bsips?:([^\s<>"';,]+@[^\s<>"';,]+)`,
	`(?i)\bh323:([^\s<>"';,]+)`,
	`\b([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b`,
	`\b((?:\d{1,3}\.){3}\d{1,3}(?:##\d+)?)\b`,
	`(\+?\b\d{7,15})\b`,
}

// Options configure a fleet.
type Options struct {
	Endpoints []EndpointOptions
	Logger    *slog.Logger
	// Now is the endpoints' clock for calendar windows and times shown (default time.Now).
	Now func() time.Time
	// AdminAddr is where the admin API listens (default 127.0.0.1:0).
	AdminAddr string
}

// Meeting is one meeting as the endpoint shows it.
type Meeting struct {
	ID         string    `json:"id"`
	Subject    string    `json:"subject"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Location   string    `json:"location,omitempty"`
	Organizer  string    `json:"organizer,omitempty"`
	DialString string    `json:"dial_string"`
	Protocol   string    `json:"protocol,omitempty"` // sip or h323
	CanDial    bool      `json:"canDial"`
	Private    bool      `json:"private"`
	Recurring  bool      `json:"recurring"`
	Body       string    `json:"body,omitempty"`
}

// Faults are injected misbehaviours.
type Faults struct {
	WrongPassword bool `json:"wrong_password"` // log in with a wrong password
	StopPolling   bool `json:"stop_polling"`   // no polls at all (the device hung or lost its network)
}

// RequestLog is one EWS request the endpoint made.
type RequestLog struct {
	Time   time.Time `json:"time"`
	Op     string    `json:"op"`
	Status int       `json:"status"`
	Error  string    `json:"error,omitempty"`
}

// Status is an endpoint's calendar state and what it shows.
type Status struct {
	Name        string    `json:"name"`
	Room        string    `json:"room"`
	State       string    `json:"state"`
	LastPoll    time.Time `json:"last_poll"`
	LastSuccess time.Time `json:"last_success"`
	LastError   string    `json:"last_error,omitempty"`
	Polls       int       `json:"polls"`
	RESTURL     string    `json:"rest_url"`
	Meetings    []Meeting `json:"meetings"`
}

// Fleet is a running set of endpoints.
type Fleet struct {
	opts   Options
	log    *slog.Logger
	eps    map[string]*Endpoint
	order  []string
	admin  *http.Server
	adminL net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Endpoint is one simulated Poly endpoint.
type Endpoint struct {
	opts     EndpointOptions
	fleet    *Fleet
	patterns []*regexp.Regexp
	client   *http.Client
	rest     *restServer

	pollMu sync.Mutex // one poll at a time

	mu          sync.Mutex
	state       string
	lastPoll    time.Time
	lastSuccess time.Time
	lastError   string
	polls       int
	meetings    []Meeting
	bodies      map[string]served // ItemId → item with body, by ChangeKey
	discovered  bool
	faults      Faults
	requests    []RequestLog
	wake        chan struct{}
}

// Start starts every endpoint's REST surface, its polling (when PollInterval is set) and the
// admin API. Close stops them.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	f := &Fleet{opts: opts, log: opts.Logger, eps: map[string]*Endpoint{}}
	for _, eo := range opts.Endpoints {
		if eo.Name == "" {
			f.closeAll()
			return nil, errors.New("polysim: an endpoint has no name")
		}
		if _, dup := f.eps[eo.Name]; dup {
			f.closeAll()
			return nil, fmt.Errorf("polysim: two endpoints are named %s", eo.Name)
		}
		ep, err := newEndpoint(f, eo)
		if err != nil {
			f.closeAll()
			return nil, err
		}
		f.eps[eo.Name] = ep
		f.order = append(f.order, eo.Name)
	}
	l, err := net.Listen("tcp", opts.AdminAddr)
	if err != nil {
		f.closeAll()
		return nil, fmt.Errorf("polysim: admin listen: %w", err)
	}
	f.adminL = l
	f.admin = &http.Server{Handler: f.adminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = f.admin.Serve(l) }()

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	for _, name := range f.order {
		ep := f.eps[name]
		if ep.opts.PollInterval > 0 {
			f.wg.Go(func() { ep.pollLoop(rctx) })
		}
	}
	return f, nil
}

func newEndpoint(f *Fleet, o EndpointOptions) (*Endpoint, error) {
	if o.LookAhead == 0 {
		o.LookAhead = 7 * 24 * time.Hour
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 50
	}
	if o.RequestServerVersion == "" {
		o.RequestServerVersion = "Exchange2010"
	}
	if len(o.DialPatterns) == 0 {
		o.DialPatterns = DefaultDialPatterns
	}
	if o.RESTUser == "" {
		o.RESTUser = "admin"
	}
	if o.RESTPassword == "" {
		o.RESTPassword = "Polycom12345"
	}
	if o.Model == "" {
		o.Model = "StudioX50"
	}
	if o.Software == "" {
		o.Software = "4.1.0-340031"
	}
	ep := &Endpoint{opts: o, fleet: f, bodies: map[string]served{}, state: StateDisabled, wake: make(chan struct{}, 1)}
	if o.EWSURL != "" {
		ep.state = StateConnecting
	}
	for _, p := range o.DialPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("polysim: endpoint %s: dial pattern %q: %w", o.Name, p, err)
		}
		ep.patterns = append(ep.patterns, re)
	}
	ep.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	rs, err := newRESTServer(ep)
	if err != nil {
		return nil, err
	}
	ep.rest = rs
	return ep, nil
}

// AdminURL is the admin API's base URL (http://127.0.0.1:P).
func (f *Fleet) AdminURL() string { return "http://" + f.adminL.Addr().String() }

// Endpoint returns the named endpoint, or nil.
func (f *Fleet) Endpoint(name string) *Endpoint { return f.eps[name] }

// Names lists the endpoints in configuration order.
func (f *Fleet) Names() []string { return append([]string(nil), f.order...) }

// Close stops polling, the REST surfaces and the admin API.
func (f *Fleet) Close() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	f.closeAll()
}

func (f *Fleet) closeAll() {
	if f.admin != nil {
		_ = f.admin.Close()
	}
	for _, ep := range f.eps {
		ep.rest.close()
		ep.client.CloseIdleConnections()
	}
}

// RESTURL is the endpoint's REST base URL (https://127.0.0.1:P).
func (ep *Endpoint) RESTURL() string { return ep.rest.url() }

// RESTCertificate is the REST surface's current self-signed certificate.
func (ep *Endpoint) RESTCertificate() tls.Certificate { return ep.rest.certificate() }

// SetFaults replaces the endpoint's injected faults.
func (ep *Endpoint) SetFaults(f Faults) {
	ep.mu.Lock()
	ep.faults = f
	ep.mu.Unlock()
}

// Faults returns the injected faults.
func (ep *Endpoint) Faults() Faults {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.faults
}

func (ep *Endpoint) password() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.faults.WrongPassword {
		return ep.opts.Password + "-wrong"
	}
	return ep.opts.Password
}

// Status is the endpoint's state and the meetings it shows.
func (ep *Endpoint) Status() Status {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return Status{Name: ep.opts.Name, Room: ep.opts.Room, State: ep.state, LastPoll: ep.lastPoll, LastSuccess: ep.lastSuccess,
		LastError: ep.lastError, Polls: ep.polls, RESTURL: ep.rest.url(), Meetings: append([]Meeting{}, ep.meetings...)}
}

// Meetings is what the endpoint shows.
func (ep *Endpoint) Meetings() []Meeting { return ep.Status().Meetings }

// Requests lists the latest EWS requests made (oldest first).
func (ep *Endpoint) Requests() []RequestLog {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]RequestLog(nil), ep.requests...)
}

func (ep *Endpoint) logRequest(op string, status int, err error) {
	r := RequestLog{Time: ep.fleet.opts.Now(), Op: op, Status: status}
	if err != nil {
		r.Error = err.Error()
	}
	ep.mu.Lock()
	ep.requests = append(ep.requests, r)
	if len(ep.requests) > 500 {
		ep.requests = ep.requests[len(ep.requests)-500:]
	}
	ep.mu.Unlock()
}

// ErrStopped is PollNow's answer while the stop_polling fault is on.
var ErrStopped = errors.New("polysim: polling is stopped by an injected fault")

// PollNow polls the calendar server once and returns the poll's error (nil when the endpoint
// is ONLINE afterwards).
func (ep *Endpoint) PollNow(ctx context.Context) error {
	if ep.Faults().StopPolling {
		return ErrStopped
	}
	if ep.opts.EWSURL == "" {
		return errors.New("polysim: calendaring is disabled (no server)")
	}
	ep.pollMu.Lock()
	defer ep.pollMu.Unlock()
	err := ep.poll(ctx)
	now := ep.fleet.opts.Now()
	ep.mu.Lock()
	ep.lastPoll = now
	ep.polls++
	if err == nil {
		ep.state, ep.lastError, ep.lastSuccess = StateOnline, "", now
	} else {
		// The last good meeting list is kept on failure, as a device does.
		ep.lastError = err.Error()
		var pe *protocolError
		var sf *soapFault
		var ee *ewsError
		switch {
		case errors.Is(err, errAuth):
			ep.state = StateAuthError
		case errors.As(err, &pe), errors.As(err, &sf), errors.As(err, &ee):
			ep.state = StateUnknownErr
		default:
			ep.state = StateOffline
		}
	}
	ep.mu.Unlock()
	if err != nil {
		// The agent may not run yet (otj-sim starts first): stay quiet, retry next poll.
		ep.fleet.log.Debug("polysim: poll failed", "endpoint", ep.opts.Name, "err", err)
	}
	return err
}

// pollLoop polls every PollInterval until ctx ends.
func (ep *Endpoint) pollLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ep.wake:
		}
		_ = ep.PollNow(ctx)
		t.Reset(ep.opts.PollInterval)
	}
}

// poll is one round: (autodiscover once) → GetFolder → FindItem → GetItem for what changed.
func (ep *Endpoint) poll(ctx context.Context) error {
	ep.mu.Lock()
	discover := ep.opts.Autodiscover && !ep.discovered
	ep.mu.Unlock()
	if discover {
		if err := ep.autodiscover(ctx); err != nil {
			return fmt.Errorf("autodiscover: %w", err)
		}
	}
	r, err := ep.ewsCall(ctx, "GetFolder", getFolderBody(ep.opts.Room))
	if err != nil {
		return fmt.Errorf("GetFolder: %w", err)
	}
	msgs, err := responseMessages(r, "GetFolder")
	if err != nil {
		return fmt.Errorf("GetFolder: %w", err)
	}
	if e := msgErr(msgs[0]); e != nil {
		return fmt.Errorf("GetFolder: %w", e)
	}
	folder := msgs[0].kid(nsMsgs, "Folders").kid(nsTypes, "CalendarFolder").kid(nsTypes, "FolderId")
	fid, _ := folder.attr("Id")
	fck, _ := folder.attr("ChangeKey")
	if fid == "" {
		return fmt.Errorf("GetFolder: %w", protoErr("no CalendarFolder/FolderId with an Id"))
	}

	now := ep.fleet.opts.Now()
	start, end := now.Add(-24*time.Hour), now.Add(ep.opts.LookAhead)
	r, err = ep.ewsCall(ctx, "FindItem", findItemBody(fid, fck, start, end, ep.opts.MaxEntries))
	if err != nil {
		return fmt.Errorf("FindItem: %w", err)
	}
	msgs, err = responseMessages(r, "FindItem")
	if err != nil {
		return fmt.Errorf("FindItem: %w", err)
	}
	if e := msgErr(msgs[0]); e != nil {
		return fmt.Errorf("FindItem: %w", e)
	}
	root := msgs[0].kid(nsMsgs, "RootFolder")
	if root == nil {
		return fmt.Errorf("FindItem: %w", protoErr("no RootFolder"))
	}
	if _, ok := root.attr("TotalItemsInView"); !ok {
		return fmt.Errorf("FindItem: %w", protoErr("RootFolder without TotalItemsInView"))
	}
	var found []served
	for _, e := range root.kid(nsTypes, "Items").Kids {
		if e.Space != nsTypes || e.Local != "CalendarItem" {
			return fmt.Errorf("FindItem: %w", protoErr("Items holds {%s}%s, not a CalendarItem", e.Space, e.Local))
		}
		it, err := parseItem(e, !ep.opts.LenientOrder)
		if err != nil {
			return fmt.Errorf("FindItem: %w", err)
		}
		if !it.hasStart || !it.hasEnd {
			return fmt.Errorf("FindItem: %w", protoErr("item %s has no Start or End", it.ID))
		}
		if len(found) > 0 && it.Start.Before(found[len(found)-1].Start) {
			return fmt.Errorf("FindItem: %w", protoErr("items are not sorted by Start"))
		}
		found = append(found, it)
	}
	if len(found) > ep.opts.MaxEntries {
		return fmt.Errorf("FindItem: %w", protoErr("%d items returned, MaxEntriesReturned was %d", len(found), ep.opts.MaxEntries))
	}

	// GetItem only for items that are new or whose ChangeKey changed.
	ep.mu.Lock()
	var need []served
	for _, it := range found {
		if old, ok := ep.bodies[it.ID]; !ok || old.ChangeKey != it.ChangeKey {
			need = append(need, it)
		}
	}
	ep.mu.Unlock()
	fetched := map[string]served{}
	gone := map[string]bool{}
	for len(need) > 0 {
		batch := need[:min(len(need), 20)]
		need = need[len(batch):]
		r, err := ep.ewsCall(ctx, "GetItem", getItemBody(batch))
		if err != nil {
			return fmt.Errorf("GetItem: %w", err)
		}
		msgs, err := responseMessages(r, "GetItem")
		if err != nil {
			return fmt.Errorf("GetItem: %w", err)
		}
		if len(msgs) != len(batch) {
			return fmt.Errorf("GetItem: %w", protoErr("%d ids asked, %d response messages", len(batch), len(msgs)))
		}
		for i, m := range msgs {
			if e := msgErr(m); e != nil {
				if e.Code == "ErrorItemNotFound" {
					gone[batch[i].ID] = true // deleted since FindItem: drop it
					continue
				}
				return fmt.Errorf("GetItem: %w", e)
			}
			e := m.kid(nsMsgs, "Items").kid(nsTypes, "CalendarItem")
			if e == nil {
				return fmt.Errorf("GetItem: %w", protoErr("a response message holds no CalendarItem"))
			}
			it, err := parseItem(e, !ep.opts.LenientOrder)
			if err != nil {
				return fmt.Errorf("GetItem: %w", err)
			}
			if !it.hasBody {
				return fmt.Errorf("GetItem: %w", protoErr("item %s has no Body", it.ID))
			}
			fetched[it.ID] = it
		}
	}

	shown := make([]Meeting, 0, len(found))
	bodies := map[string]served{}
	ep.mu.Lock()
	for _, it := range found {
		if gone[it.ID] {
			continue
		}
		full, ok := fetched[it.ID]
		if !ok {
			full = ep.bodies[it.ID]
		}
		bodies[it.ID] = full
		shown = append(shown, ep.show(it, full))
	}
	ep.bodies = bodies
	ep.meetings = shown
	ep.mu.Unlock()
	return nil
}

// show turns a served item into what the endpoint displays.
func (ep *Endpoint) show(it, full served) Meeting {
	m := Meeting{ID: it.ID, Subject: it.Subject, Start: it.Start, End: it.End, Location: it.Location,
		Organizer: it.Organizer, Private: it.Private, Recurring: it.Recurring, Body: full.Body}
	if m.Private && !ep.opts.ShowPrivate {
		m.Subject = "Private Meeting"
	}
	m.DialString, m.Protocol = ep.dialString(it.Location, full.Body)
	m.CanDial = m.DialString != ""
	return m
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// dialString finds the dial string: the first dialable thing in the Location, else in the
// Body (reading left to right, as a person would; patterns only break ties).
func (ep *Endpoint) dialString(location, body string) (string, string) {
	body = htmlTag.ReplaceAllString(body, " ")
	for _, text := range []string{location, body} {
		best, bestAt := []string(nil), -1
		for _, re := range ep.patterns {
			loc := re.FindStringSubmatchIndex(text)
			if loc == nil || (bestAt >= 0 && loc[0] >= bestAt) {
				continue
			}
			best, bestAt = nil, loc[0]
			for i := 0; i+1 < len(loc); i += 2 {
				if loc[i] < 0 {
					best = append(best, "")
				} else {
					best = append(best, text[loc[i]:loc[i+1]])
				}
			}
		}
		if best == nil {
			continue
		}
		s := best[0]
		if len(best) > 1 && best[1] != "" {
			s = best[1]
		}
		proto := "h323"
		if strings.Contains(s, "@") || strings.HasPrefix(strings.ToLower(best[0]), "sip") {
			proto = "sip"
		}
		return s, proto
	}
	return "", ""
}

// autodiscover posts a POX request and checks the EWS URL it names.
func (ep *Endpoint) autodiscover(ctx context.Context) error {
	u := strings.Replace(ep.opts.EWSURL, "/EWS/Exchange.asmx", "/autodiscover/autodiscover.xml", 1)
	status, resp, err := ep.post(ctx, u, "", []byte(fmt.Sprintf(autodiscoverReq, xmlEsc(ep.opts.Room))), ep.password())
	ep.logRequest("Autodiscover", status, err)
	if err != nil {
		return &transportError{err}
	}
	if status == http.StatusUnauthorized {
		return errAuth
	}
	if status != http.StatusOK {
		return &transportError{fmt.Errorf("HTTP %d", status)}
	}
	root, err := parseDoc(resp)
	if err != nil {
		return err
	}
	const ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	acct := root.kid("http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006", "Response")
	if acct == nil {
		acct = root.kid(ns, "Response")
	}
	var url string
	for _, p := range acct.kid(ns, "Account").kids(ns, "Protocol") {
		if strings.TrimSpace(p.kid(ns, "Type").textOr()) == "EXCH" {
			url = strings.TrimSpace(p.kid(ns, "EwsUrl").textOr())
		}
	}
	if !strings.EqualFold(url, ep.opts.EWSURL) {
		return protoErr("autodiscover named EWS URL %q, expected %q", url, ep.opts.EWSURL)
	}
	ep.mu.Lock()
	ep.discovered = true
	ep.mu.Unlock()
	return nil
}

// post sends a request with the endpoint's Basic credential.
func (ep *Endpoint) post(ctx context.Context, url, soapAction string, body []byte, password string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if soapAction != "" {
		req.Header.Set("SOAPAction", `"`+soapAction+`"`)
	}
	req.Header.Set("User-Agent", "Poly "+ep.opts.Model+"/"+ep.opts.Software+" (polysim)")
	user := ep.opts.Username
	if ep.opts.Domain != "" {
		user = ep.opts.Domain + `\` + user
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	resp, err := ep.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, data, nil
}

// sortedNames lists endpoint names sorted.
func (f *Fleet) sortedNames() []string {
	n := f.Names()
	sort.Strings(n)
	return n
}
