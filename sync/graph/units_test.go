package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/store"
)

func TestClassify(t *testing.T) {
	const room, app = "room-01@contoso.example", "app-id"
	tests := []struct {
		status        int
		code, message string
		retryAfter    time.Duration
		wantStatus    string
		wantDetail    string
		wantRetryIn   time.Duration
		resync        bool
	}{
		{403, "ErrorAccessDenied", "Access to OData is disabled.", -1, store.RoomPolicyDenied, "Test-ServicePrincipalAuthorization -Identity " + app + " -Resource " + room, retryPolicy, false},
		{403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", -1, store.RoomAuthFailed, `role "Application Calendars.Read" on a scope of the rooms (RBAC for Applications)`, retryAuth, false},
		{404, "ErrorInvalidUser", "The requested user is invalid.", -1, store.RoomNotFound, "no mailbox " + room, retryNotFound, false},
		{404, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.", -1, store.RoomNotRESTEnabled, "not in Exchange Online", retryNotFound, false},
		{410, "SyncStateNotFound", "The sync state generation is not found", -1, store.RoomOK, "resyncing", 0, true},
		{429, "TooManyRequests", "Please retry again later.", 7 * time.Second, store.RoomThrottled, "next try in 7s as Retry-After asks", 0, false},
		{429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", -1, store.RoomThrottled, "ApplicationThrottled", 0, false},
		{503, "ServiceNotAvailable", "", -1, store.RoomTransient, "Graph is unavailable (503", 0, false},
		{401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", -1, store.RoomAuthFailed, "same cloud", retryAuth, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status, tc.code), func(t *testing.T) {
			f := classify(result{status: tc.status, code: tc.code, message: tc.message, retryAfter: tc.retryAfter, sent: true}, room, app)
			assert.Equal(t, tc.wantStatus, f.status)
			assert.Contains(t, f.detail, tc.wantDetail)
			assert.Equal(t, tc.wantRetryIn, f.retryIn)
			assert.Equal(t, tc.resync, f.resync)
			assert.NotContains(t, f.detail, "\n")
		})
	}
}

// entraError builds the error azidentity returns for an Entra answer.
func entraError(status int, code int) error {
	body := fmt.Sprintf(`{"error":"invalid_client","error_description":"AADSTS%d: something.\r\nTrace ID: x","error_codes":[%d]}`, code, code)
	return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: status, Status: http.StatusText(status),
		Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{"Content-Type": {"application/json"}}}}
}

func TestTokenFailuresSayWhatToFix(t *testing.T) {
	tests := []struct {
		code   int
		status int
		want   string
		room   string
	}{
		{7000215, 401, "the client secret value is wrong. Enter the secret's Value", store.RoomAuthFailed},
		{7000222, 401, "the client secret has expired", store.RoomAuthFailed},
		{700016, 400, "client_id) is not registered in this tenant", store.RoomAuthFailed},
		{90002, 400, "the tenant in token_url does not exist in this cloud", store.RoomAuthFailed},
		{900432, 400, "different clouds", store.RoomAuthFailed},
		{53003, 400, "Conditional Access", store.RoomAuthFailed},
		{90024, 503, "temporarily unavailable", store.RoomTransient},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			f := classifyError(entraError(tc.status, tc.code))
			assert.True(t, f.token)
			assert.Equal(t, fmt.Sprintf("AADSTS%d", tc.code), f.code)
			assert.Contains(t, f.detail, tc.want)
			assert.Equal(t, tc.room, f.status)
			assert.NotContains(t, f.detail, "\n")
		})
	}
}

func TestHotSecondsIsTheUnionOfHotPeriods(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }
	spans := []store.Span{{Start: at(10, 0), End: at(11, 0)}, {Start: at(10, 30), End: at(10, 45)}, {Start: at(14, 0), End: at(15, 0)}}
	// Lean: [9:30, 10:00) ∪ [10:00, 10:30) ∪ [13:30, 14:00) = 60 + 30 minutes.
	assert.Equal(t, (90 * time.Minute).Seconds(), hotSeconds(spans, at(0, 0), at(23, 0), 30*time.Minute, false))
	// Running meetings hot: [9:30, 11:00) ∪ [13:30, 15:00) = 180 minutes.
	assert.Equal(t, (180 * time.Minute).Seconds(), hotSeconds(spans, at(0, 0), at(23, 0), 30*time.Minute, true))
	// Clipped to the period asked.
	assert.Equal(t, (30 * time.Minute).Seconds(), hotSeconds(spans, at(14, 30), at(23, 0), 30*time.Minute, true))
}

// TestPlanSpendsTheBudgetWhereItMatters: plenty of budget keeps running meetings hot at the
// shortest intervals; a tight one first drops them, then stretches every interval so the day
// fits.
func TestPlanSpendsTheBudgetWhereItMatters(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mk := func(limit int64, rooms int) *Syncer {
		s := &Syncer{rooms: map[string]*room{}, budget: budget{limit: limit, stretch: 1}}
		s.tune.defaults()
		for i := range rooms {
			// Six one-hour meetings between 09:00 and 17:00, today and tomorrow.
			var spans []store.Span
			for day := range 2 {
				for _, h := range []int{9, 10, 12, 13, 15, 16} {
					st := now.AddDate(0, 0, day).Add(time.Duration(h) * time.Hour)
					spans = append(spans, store.Span{Start: st, End: st.Add(time.Hour)})
				}
			}
			s.rooms[fmt.Sprint(i)] = &room{spans: spans, state: store.RoomState{Status: store.RoomOK}}
		}
		return s
	}
	small := mk(1_000_000, 20)
	small.plan(now)
	assert.True(t, small.budget.runningHot)
	assert.Equal(t, 1.0, small.budget.stretch)
	assert.Equal(t, 15*time.Second, small.hotInterval())

	big := mk(1_000_000, 1000)
	big.plan(now)
	assert.False(t, big.budget.runningHot, "at 1,000 rooms running meetings poll at the cold interval")
	assert.LessOrEqual(t, big.budget.projectedToday, int64(1_000_000))
	assert.LessOrEqual(t, big.hotInterval(), 20*time.Second, "six hour-long meetings a day in every room still fit")

	// Started at 14:00 with a fresh count: the day's budget is not spent in ten hours (at the
	// shortest intervals that would be twice the daily rate); the next 24 hours fit.
	afternoon := mk(1_000_000, 1000)
	afternoon.plan(now.Add(14 * time.Hour))
	assert.False(t, afternoon.budget.runningHot, "a whole day does not fit running meetings hot")
	assert.LessOrEqual(t, afternoon.budget.projected24h, int64(1_000_000))
	assert.LessOrEqual(t, afternoon.budget.projectedToday, int64(1_000_000))

	tight := mk(200_000, 1000)
	tight.plan(now)
	assert.Greater(t, tight.budget.stretch, 1.0)
	assert.LessOrEqual(t, tight.budget.projectedToday, int64(200_000*budgetHeadroom)+1)
	assert.InDelta(t, tight.coldInterval().Seconds()/tight.hotInterval().Seconds(), 16, 0.01, "both stretch alike")
}

func TestMerges(t *testing.T) {
	raw := func(s string) doc {
		d, err := parseDoc([]byte(s))
		require.NoError(t, err)
		return d
	}
	stored := raw(`{"id":"1","subject":"Old","body":{"content":"keep"},"location":{"displayName":"Room"}}`)
	got := mergeUpdate(stored, raw(`{"id":"1","subject":"New","location":null,"@odata.context":"x"}`))
	assert.JSONEq(t, `{"id":"1","subject":"New","body":{"content":"keep"},"location":{"displayName":"Room"}}`, string(got.encode()))

	master := raw(`{"id":"M","type":"seriesMaster","subject":"Stand-up","recurrence":{"pattern":{}},"changeKey":"ck","start":{"dateTime":"2026-11-16T08:00:00"},"organizer":{"emailAddress":{"name":"A"}},"onlineMeeting":null}`)
	stub := raw(`{"@odata.etag":"W/\"e\"","id":"O1","seriesMasterId":"M","type":"occurrence","start":{"dateTime":"2026-11-24T08:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-11-24T08:15:00.0000000","timeZone":"UTC"}}`)
	occ := fillOccurrence(master, stub)
	var m map[string]any
	require.NoError(t, json.Unmarshal(occ.encode(), &m))
	assert.Equal(t, "O1", m["id"])
	assert.Equal(t, "occurrence", m["type"])
	assert.Equal(t, "Stand-up", m["subject"])
	assert.Equal(t, "M", m["seriesMasterId"])
	assert.Equal(t, "2026-11-24T08:00:00.0000000", m["start"].(map[string]any)["dateTime"])
	assert.NotContains(t, m, "recurrence")
	assert.NotContains(t, m, "onlineMeeting", "nulls are not stored")
	assert.Equal(t, stub.encode(), fillOccurrence(raw(`{}`), stubOf(occ)).encode(), "the stub part is recoverable")
}

type nextPipeline struct{ called bool }

func (p *nextPipeline) Next(*http.Request, int) (*http.Response, error) {
	p.called = true
	return &http.Response{StatusCode: http.StatusOK}, nil
}

// TestNoRequestLeavesWithoutAToken: a request without a bearer token is refused before it
// leaves, and a link to another host than graph_url is not followed.
func TestNoRequestLeavesWithoutAToken(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://graph.microsoft.com/v1.0/users/x/calendarView/delta", nil)
	p := &nextPipeline{}
	_, err := requireToken{}.Intercept(p, 0, req)
	assert.ErrorIs(t, err, errNoToken)
	assert.False(t, p.called)
	req.Header.Set("Authorization", "Bearer abc")
	_, err = requireToken{}.Intercept(p, 0, req)
	assert.NoError(t, err)
	assert.True(t, p.called)

	h := newHarness(t, graphsim.Options{}, roomName(1))
	a, err := newAPI(h.in, h.sim.HTTPClient())
	require.NoError(t, err)
	res := a.send(t.Context(), reqSpec{kind: kindLink, mailbox: roomName(1), link: "https://graph.example.net/v1.0/users/x/calendarView/delta?$deltatoken=abc"})
	require.Error(t, res.err)
	assert.Contains(t, res.err.Error(), "outside graph_url")
	assert.False(t, res.sent)
	assert.Zero(t, h.sim.Stats().Requests)
}

// TestPickDueTakesDueRoomsHotFirstWithinTheFreeSlots: the scheduler starts only rooms that
// are due, hot ones first when the slots run short, keeps the rest for the next free slot
// (without waking up for them while every slot is busy), and wakes up at the next due time.
func TestPickDueTakesDueRoomsHotFirstWithinTheFreeSlots(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := &Syncer{rooms: map[string]*room{}, budget: budget{stretch: 1, nextPlan: now.Add(time.Minute)}}
	s.in.MaxInFlight = 1 // maxActive: one full batch
	s.tune.defaults()
	add := func(name string, due time.Duration, hot bool) *room {
		r := &room{spec: RoomSpec{Mailbox: name}, due: now.Add(due), hidx: -1}
		if hot {
			r.spans = []store.Span{{Start: now.Add(10 * time.Minute), End: now.Add(time.Hour)}}
		}
		s.rooms[name] = r
		s.queue(r)
		return r
	}
	cold := make([]*room, maxBatch)
	for i := range cold {
		cold[i] = add(fmt.Sprintf("cold-%02d", i), -time.Duration(maxBatch-i)*time.Second, false)
	}
	hot := add("hot", 0, true)
	later := add("later", 30*time.Second, false)

	got, next := s.pickDue(now)
	require.Len(t, got, maxBatch)
	assert.Same(t, hot, got[0], "a hot room goes first")
	for i, r := range got[1:] {
		assert.Same(t, cold[i], r, "then the longest overdue")
	}
	// Every slot is busy: the left-over room waits for a step's end (which wakes the loop),
	// not for a timer armed in the past (the loop would spin until a step ended).
	assert.Equal(t, now.Add(time.Minute), next, "no wake-up for a due room while every slot is busy")

	// A step ends: its room comes back with its next due time, and the left-over room goes.
	got[0].running = false
	got[0].due = now.Add(15 * time.Second)
	s.queue(got[0])
	s.steps--
	again, next := s.pickDue(now)
	require.Len(t, again, 1)
	assert.Same(t, cold[maxBatch-1], again[0])
	assert.Equal(t, now.Add(time.Minute), next, "every slot busy again: a step's end wakes the loop")
	// With a slot free and nothing due, it wakes up at the next due time.
	again[0].running = false
	again[0].due = now.Add(time.Hour)
	s.queue(again[0])
	s.steps--
	none, next := s.pickDue(now)
	assert.Empty(t, none)
	assert.Equal(t, now.Add(15*time.Second), next)

	// SyncNow moves a waiting room up.
	s.order = []string{"later"}
	for _, r := range got[1:] {
		r.running, s.steps = false, s.steps-1
		r.due = now.Add(time.Hour)
		s.queue(r)
	}
	s.wake = make(chan struct{}, 1)
	s.clk = clock.NewFake(now)
	require.NoError(t, s.SyncNow("later", false))
	picked, _ := s.pickDue(now)
	require.Len(t, picked, 1)
	assert.Same(t, later, picked[0])
}

// BenchmarkPickDueColdBacklog is the scheduler's work after each step of a cold start: 1,000
// rooms due, one slot freed. It walks the due part of the heap and takes one room (it used to
// pop all 1,000 and push 999 back: 24 % of a 1,000-room cold start's CPU in a profile).
func BenchmarkPickDueColdBacklog(b *testing.B) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := &Syncer{rooms: map[string]*room{}, budget: budget{stretch: 1, nextPlan: now.Add(time.Minute)}}
	s.in.MaxInFlight = 8
	s.tune.defaults()
	for i := range 1000 {
		r := &room{spec: RoomSpec{Mailbox: fmt.Sprintf("room-%04d", i)}, due: now.Add(-time.Duration(i) * time.Millisecond), hidx: -1}
		s.rooms[r.spec.Mailbox] = r
		s.queue(r)
	}
	s.steps = s.maxActive() - 1
	b.ResetTimer()
	for b.Loop() {
		got, _ := s.pickDue(now)
		got[0].running = false
		s.steps--
		s.queue(got[0])
	}
}
