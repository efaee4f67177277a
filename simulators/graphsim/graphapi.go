package graphsim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// gReq is one Graph operation: a plain request or a part of a $batch.
type gReq struct {
	method string
	path   string // below /v1.0, decoded
	query  url.Values
	prefer []string // every Prefer value, split on commas
	body   []byte   // the request body (getSchedule)
}

// gResp is its answer.
type gResp struct {
	status  int
	header  http.Header
	body    any    // marshalled as JSON
	garbage []byte // a broken body instead (fault)
	drop    bool   // close the connection instead (fault)
}

func errResp(status int, code, msg string) gResp {
	return gResp{status: status, body: graphError(code, msg)}
}

// graphError is Graph's error envelope.
func graphError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": map[string]any{
		"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": newGUID(), "client-request-id": newGUID()}}}
}

// serveGraph handles an HTTP request below /v1.0/.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	if path != "/$batch" {
		s.countRequest()
	}
	if msg := s.checkToken(r.Header.Get("Authorization")); msg != "" {
		if path == "/$batch" {
			// A refused batch counts as its parts, as any batch does (the client counted them).
			parts, _ := decodeBatch(r)
			for range max(1, len(parts)) {
				s.countRequest()
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		s.writeResp(w, errResp(http.StatusUnauthorized, "InvalidAuthenticationToken", msg))
		return
	}
	if path == "/$batch" {
		s.serveBatch(w, r)
		return
	}
	if path == "/subscriptions" || strings.HasPrefix(path, "/subscriptions/") {
		s.serveSubscriptions(w, r, path) // subscriptions.go
		return
	}
	if isPlacesPath(path) {
		s.writeResp(w, s.servePlaces(r.Method, path, r.URL.Query())) // places.go
		return
	}
	if isSchedulePath(path) {
		s.serveSchedule(w, r, path) // schedule.go
		return
	}
	if r.Method != http.MethodGet {
		s.writeResp(w, errResp(http.StatusMethodNotAllowed, "BadRequest", "graphsim serves GET requests (and POST /$batch) only."))
		return
	}
	resp := s.do(r.Context(), gReq{method: r.Method, path: path, query: r.URL.Query(), prefer: preferValues(r.Header.Values("Prefer"))})
	s.writeResp(w, resp)
}

func preferValues(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, v := range strings.Split(l, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func (s *Server) writeResp(w http.ResponseWriter, resp gResp) {
	switch {
	case resp.drop:
		panic(http.ErrAbortHandler) // closes the connection (HTTP/1) or resets the stream (HTTP/2)
	case resp.garbage != nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.garbage)
		return
	}
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("request-id", newGUID())
	writeJSON(w, resp.status, resp.body)
}

// route is a parsed Graph path.
type route struct {
	user    string
	kind    string // calendarView, delta, event, getSchedule
	eventID string
}

func parseRoute(path string) (route, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "users") {
		return route{}, false
	}
	r := route{user: strings.ToLower(parts[1])}
	switch {
	case len(parts) == 3 && strings.EqualFold(parts[2], "calendarView"):
		r.kind = "calendarView"
	case len(parts) == 4 && strings.EqualFold(parts[2], "calendarView") && (parts[3] == "delta" || parts[3] == "delta()"):
		r.kind = "delta"
	case len(parts) == 4 && strings.EqualFold(parts[2], "events"):
		r.kind, r.eventID = "event", parts[3]
	case len(parts) == 4 && strings.EqualFold(parts[2], "calendar") && strings.EqualFold(parts[3], "getSchedule"):
		r.kind = "getSchedule"
	default:
		return route{}, false
	}
	return r, true
}

// do runs one Graph operation with the per-mailbox checks and limits, in Graph's order: the
// mailbox must exist and be in Exchange Online, the access policy must allow it, then
// injected faults, then concurrency and rate limits, then latency, then the work.
func (s *Server) do(ctx context.Context, req gReq) gResp {
	rt, ok := parseRoute(req.path)
	if !ok {
		return errResp(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+lastSegment(req.path)+"'.")
	}
	s.mu.Lock()
	mb := s.boxes[rt.user]
	if mb == nil {
		s.mu.Unlock()
		return errResp(http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+rt.user+"' is invalid.")
	}
	if resp, denied := s.delegatedDeny(ctx, mb, req); denied {
		s.mu.Unlock()
		return resp
	}
	now := s.now()
	mb.stats.Requests++
	switch rt.kind {
	case "calendarView":
		mb.stats.CalendarViews++
	case "event":
		mb.stats.EventGets++
	case "getSchedule":
		mb.stats.GetSchedules++
		s.totals.GetSchedules++
	}
	mb.inFlight++
	mb.stats.MaxInFlight = max(mb.stats.MaxInFlight, mb.inFlight)
	if now.Before(mb.retryUntil) {
		mb.stats.EarlyRetries++
	}
	count := mb.addRequest(now)
	resp, latency, pending := s.admit(mb, rt, req, now, count)
	s.mu.Unlock()

	if pending {
		s.sleep(ctx, latency)
		s.mu.Lock()
		resp = s.work(mb, rt, req)
		s.mu.Unlock()
	}
	s.mu.Lock()
	mb.inFlight--
	mb.stats.countStatus(resp.status)
	if resp.status == http.StatusTooManyRequests {
		mb.stats.Throttled++
	}
	if ra := resp.header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil {
			mb.retryUntil = s.now().Add(time.Duration(secs) * time.Second)
		}
	}
	s.mu.Unlock()
	return resp
}

// admit applies the checks before the work (under s.mu). pending is true when the request is
// to be served after latency.
func (s *Server) admit(mb *mailbox, rt route, req gReq, now time.Time, count int) (resp gResp, latency time.Duration, pending bool) {
	switch {
	case !mb.restEnabled:
		return errResp(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox."), 0, false
	case !mb.inPolicy:
		return errResp(http.StatusForbidden, "ErrorAccessDenied", "Access to OData is disabled."), 0, false
	}
	latency = s.app.latency
	if f := s.takeFault(mb.addr, req.path, FaultStatus, FaultGarbage, FaultLatency, FaultDrop, FaultExpireDelta); f != nil {
		latency += f.Latency.d()
		switch f.Kind {
		case FaultStatus:
			status := f.Status
			if status == 0 {
				status = http.StatusServiceUnavailable
			}
			code, msg := f.Code, f.Message
			if code == "" {
				code, msg = defaultErrorFor(status)
			}
			resp = errResp(status, code, msg)
			if f.RetryAfter > 0 {
				resp.header = http.Header{"Retry-After": {strconv.Itoa(f.RetryAfter)}}
			}
			return resp, latency, false
		case FaultGarbage:
			return gResp{status: http.StatusOK, garbage: []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(event)","value":[{"id":"AAMk`)}, latency, false
		case FaultDrop:
			return gResp{drop: true}, latency, false
		case FaultExpireDelta:
			mb.states, mb.stateOrder = map[string]*syncState{}, nil
			mb.rounds, mb.roundOrder = map[string]*deltaRound{}, nil
		}
	}
	if mb.inFlight > MailboxConcurrency {
		return errResp(http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."), 0, false
	}
	limit := mb.rateLimit
	if limit == 0 {
		limit = s.app.rateLimit
	}
	if count > limit {
		ra := mb.retryAfter(now, limit)
		resp = errResp(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		resp.header = http.Header{"Retry-After": {strconv.Itoa(ra)}}
		return resp, 0, false
	}
	return gResp{}, latency, true
}

func defaultErrorFor(status int) (string, string) {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Please retry again later."
	case http.StatusServiceUnavailable:
		return "ServiceNotAvailable", "The service is temporarily unavailable. Please retry later."
	case http.StatusGatewayTimeout:
		return "GatewayTimeout", "The gateway did not receive a timely response."
	case http.StatusInternalServerError:
		return "InternalServerError", "An internal server error occurred."
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
	case http.StatusForbidden:
		return "ErrorAccessDenied", "Access is denied. Check credentials and try again."
	case http.StatusGone:
		return "SyncStateNotFound", "The sync state generation is not found; the delta token has expired or is invalid."
	}
	return "UnknownError", http.StatusText(status)
}

func lastSegment(p string) string {
	p = strings.Trim(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func (s *Server) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// addRequest counts a request in the mailbox's 10-minute window and returns the window's total.
func (mb *mailbox) addRequest(now time.Time) int {
	slot := now.Unix() / 10
	i := int(slot % rateBuckets)
	if mb.bucketSlot[i] != slot {
		mb.bucketSlot[i], mb.buckets[i] = slot, 0
	}
	mb.buckets[i]++
	total := 0
	for j := range rateBuckets {
		if mb.bucketSlot[j] > slot-rateBuckets {
			total += mb.buckets[j]
		}
	}
	return total
}

// retryAfter is how many seconds until the window holds fewer than limit requests.
func (mb *mailbox) retryAfter(now time.Time, limit int) int {
	slot := now.Unix() / 10
	total := 0
	for j := range rateBuckets {
		if mb.bucketSlot[j] > slot-rateBuckets {
			total += mb.buckets[j]
		}
	}
	for old := slot - rateBuckets + 1; old <= slot; old++ {
		i := int(old % rateBuckets)
		if mb.bucketSlot[i] == old {
			total -= mb.buckets[i]
		}
		if total < limit {
			expires := time.Unix((old+rateBuckets)*10, 0)
			return max(1, int(expires.Sub(now).Round(time.Second)/time.Second))
		}
	}
	return int(RateWindow / time.Second)
}

// work serves an admitted request (under s.mu).
func (s *Server) work(mb *mailbox, rt route, req gReq) gResp {
	pref := parsePrefer(req.prefer)
	switch rt.kind {
	case "delta":
		return s.delta(mb, req, pref)
	case "calendarView":
		return s.calendarView(mb, req, pref)
	case "getSchedule":
		return s.getSchedule(req, pref) // schedule.go
	default:
		inst, ok := mb.findInstance(rt.eventID)
		if !ok {
			return errResp(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		}
		doc := pref.body(inst.render(pref.tz))
		if sel := req.query.Get("$select"); sel != "" {
			doc = selectFields(doc, sel)
		}
		doc["@odata.context"] = s.graphBase + "/v1.0/$metadata#users('" + mb.addr + "')/events/$entity"
		return gResp{status: http.StatusOK, body: doc, header: pref.applied()}
	}
}

// prefer is what a request's Prefer headers ask for.
type prefer struct {
	pageSize  int
	tz        *timeZoneOut
	textBody  bool
	appliedTo []string
}

func parsePrefer(values []string) prefer {
	var p prefer
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch k {
		case "odata.maxpagesize":
			if n, err := strconv.Atoi(val); err == nil && n > 0 {
				p.pageSize = min(n, MaxPageSize)
				p.appliedTo = append(p.appliedTo, "odata.maxpagesize="+strconv.Itoa(p.pageSize))
			}
		case "outlook.timezone":
			if loc, err := zoneLocation(val); err == nil {
				p.tz = &timeZoneOut{name: val, loc: loc}
				p.appliedTo = append(p.appliedTo, `outlook.timezone="`+val+`"`)
			}
		case "outlook.body-content-type":
			p.textBody = strings.EqualFold(val, "text")
			p.appliedTo = append(p.appliedTo, `outlook.body-content-type="`+val+`"`)
		}
	}
	return p
}

func (p prefer) applied() http.Header {
	if len(p.appliedTo) == 0 {
		return http.Header{}
	}
	return http.Header{"Preference-Applied": {strings.Join(p.appliedTo, ",")}}
}

func (p prefer) size() int {
	if p.pageSize > 0 {
		return p.pageSize
	}
	return DefaultPageSize
}

// body converts an HTML body to text when the client asked for text bodies.
func (p prefer) body(doc map[string]any) map[string]any {
	if !p.textBody {
		return doc
	}
	if b, ok := doc["body"].(map[string]any); ok && b["contentType"] == "html" {
		doc["body"] = map[string]any{"contentType": "text", "content": preview(fmt.Sprint(b["content"]))}
	}
	return doc
}

// selectFields keeps only the $select'ed properties (and the id and etag Graph always sends).
func selectFields(doc map[string]any, sel string) map[string]any {
	out := map[string]any{"id": doc["id"], "@odata.etag": doc["@odata.etag"]}
	for _, f := range strings.Split(sel, ",") {
		f = strings.TrimSpace(f)
		if v, ok := doc[f]; ok {
			out[f] = v
		}
	}
	return out
}

// --- calendarView --------------------------------------------------------------------------

func (s *Server) window(q url.Values) (time.Time, time.Time, *gResp) {
	sd, ed := q.Get("startDateTime"), q.Get("endDateTime")
	if sd == "" || ed == "" {
		r := errResp(http.StatusBadRequest, "ErrorInvalidParameter",
			"This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return time.Time{}, time.Time{}, &r
	}
	ws, err1 := parseQueryTime(sd)
	we, err2 := parseQueryTime(ed)
	if err1 != nil || err2 != nil || !we.After(ws) {
		r := errResp(http.StatusBadRequest, "ErrorInvalidParameter", "The parameter 'StartDateTime' or 'EndDateTime' is invalid.")
		return time.Time{}, time.Time{}, &r
	}
	return ws, we, nil
}

// parseQueryTime reads ISO 8601; without an offset the time is UTC.
func parseQueryTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}

func (s *Server) calendarView(mb *mailbox, req gReq, pref prefer) gResp {
	ws, we, bad := s.window(req.query)
	if bad != nil {
		return *bad
	}
	top := pref.size()
	if t := req.query.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return errResp(http.StatusBadRequest, "BadRequest", "Invalid value for $top.")
		}
		top = min(n, 1000)
	}
	skip, _ := strconv.Atoi(req.query.Get("$skip"))
	all := mb.instances(ws, we)
	sel := req.query.Get("$select")
	value := []any{}
	for i := skip; i < len(all) && i < skip+top; i++ {
		doc := pref.body(all[i].render(pref.tz))
		if sel != "" {
			doc = selectFields(doc, sel)
		}
		value = append(value, doc)
	}
	body := map[string]any{"@odata.context": s.graphBase + "/v1.0/$metadata#users('" + mb.addr + "')/calendarView", "value": value}
	if skip+top < len(all) {
		q := url.Values{}
		q.Set("startDateTime", req.query.Get("startDateTime"))
		q.Set("endDateTime", req.query.Get("endDateTime"))
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skip", strconv.Itoa(skip+top))
		if sel != "" {
			q.Set("$select", sel)
		}
		body["@odata.nextLink"] = s.graphBase + "/v1.0/users/" + escapeUser(mb.addr) + "/calendarView?" + q.Encode()
	}
	return gResp{status: http.StatusOK, body: body, header: pref.applied()}
}

func escapeUser(addr string) string { return strings.ReplaceAll(url.PathEscape(addr), "@", "%40") }
