package googlesim

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// TestUserRateLimit: past the per-user limit Google answers 403 userRateLimitExceeded with
// its error JSON until the minute window frees; the counters show it per calendar and user.
func TestUserRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.UserRateLimit = 5 })
	svc := e.admin()
	cal := ResourceEmail(room1)
	for range 5 {
		_, err := svc.Events.List(cal).Do()
		require.NoError(t, err)
	}
	_, err := svc.Events.List(cal).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusForbidden, ge.Code)
	assert.Equal(t, "userRateLimitExceeded", reason(ge))
	assert.Contains(t, string(ge.Body), `"domain":"usageLimits"`)
	assert.Equal(t, "User Rate Limit Exceeded", ge.Message)

	st := e.g.CalendarStats(room1)
	assert.Equal(t, 6, st.Requests)
	assert.Equal(t, 6, st.ByMethod["events.list"])
	assert.Equal(t, 1, st.RateLimited)
	assert.Equal(t, 5, e.g.Stats().Users[e.g.AdminUser()].PeakPerMinute)

	// quotaUser splits the per-user accounting (a server acting for many users).
	_, err = svc.Events.List(cal).Do(googleapi.QuotaUser("room-01"))
	require.NoError(t, err)
	assert.Equal(t, 1, e.g.Stats().Users["room-01"].Requests)

	e.clk.Advance(61 * time.Second)
	_, err = svc.Events.List(cal).Do()
	require.NoError(t, err, "the sliding minute has passed")
}

// TestProjectRateLimitAndFaults: the project limit answers 429 rateLimitExceeded; injected
// faults give Google's errors for one calendar and count down; the daily quota counts.
func TestProjectRateLimitAndFaults(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ProjectRateLimit = 3 })
	svc := e.admin()
	for range 3 {
		_, err := svc.Events.List(room1).Do()
		require.NoError(t, err)
	}
	_, err := svc.Events.List(room1).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusTooManyRequests, ge.Code)
	assert.Equal(t, "rateLimitExceeded", reason(ge))
	assert.Equal(t, 3, e.g.Stats().DailyRequests)

	e.clk.Advance(time.Minute)
	e.g.SetSettings(SettingsPatch{ProjectRateLimit: ptr(1000)})
	_, err = e.g.AddFault(Fault{Calendar: room2, Reason: "rateLimitExceeded", Code: 429, Count: 2})
	require.NoError(t, err)
	_, err = e.g.AddFault(Fault{Calendar: room1, Reason: "backendError", Count: 1})
	require.NoError(t, err)
	for range 2 {
		_, err = svc.Events.List(ResourceEmail(room2)).Do()
		assert.Equal(t, 429, apiErr(t, err).Code)
	}
	_, err = svc.Events.List(ResourceEmail(room2)).Do()
	require.NoError(t, err, "the fault is used up")
	_, err = svc.Events.List(room1).Do()
	ge = apiErr(t, err)
	assert.Equal(t, 500, ge.Code)
	assert.Equal(t, "backendError", reason(ge))
	assert.Equal(t, 2, e.g.CalendarStats(room2).Faults)
	assert.Empty(t, e.g.Faults())

	e.g.SetSettings(SettingsPatch{DailyQuota: ptr(e.g.Stats().DailyRequests)})
	_, err = svc.Events.List(room1).Do()
	assert.Equal(t, "dailyLimitExceeded", reason(apiErr(t, err)))
}

// TestDirectoryResources: rooms discover's call (Admin SDK resources.calendars.list) pages
// through the rooms as resource calendars; a non-admin subject is refused.
func TestDirectoryResources(t *testing.T) {
	e := newEnv(t, nil)
	for _, r := range []string{"room-03@contoso.example", "room-04@contoso.example", "room-05@contoso.example"} {
		require.NoError(t, e.gs.AddRoom(graphsimRoom(r)))
	}
	client := e.jwtConfig(e.g.AdminUser(), admin.AdminDirectoryResourceCalendarReadonlyScope).Client(e.ctx())
	dir, err := admin.NewService(e.ctx(), option.WithEndpoint(e.g.DirectoryEndpoint()), option.WithHTTPClient(client))
	require.NoError(t, err)
	var all []*admin.CalendarResource
	pages := 0
	require.NoError(t, dir.Resources.Calendars.List("my_customer").MaxResults(2).Pages(e.t.Context(), func(p *admin.CalendarResources) error {
		pages++
		all = append(all, p.Items...)
		return nil
	}))
	assert.Equal(t, 3, pages)
	require.Len(t, all, 5)
	assert.Equal(t, ResourceEmail(room1), all[0].ResourceEmail)
	assert.Equal(t, "CONFERENCE_ROOM", all[0].ResourceCategory)
	assert.Regexp(t, `^HQ-\d-Room 01 \(\d+\)$`, all[0].GeneratedResourceName)
	assert.Regexp(t, `^c_[0-9a-f]{24}@resource\.calendar\.google\.com$`, all[0].ResourceEmail)

	// A user who is not an admin: 403.
	e.g.PutUser(User{Email: "bob@contoso.example"})
	e.g.Delegate(e.g.ClientID(""), []string{admin.AdminDirectoryResourceCalendarReadonlyScope})
	client = e.jwtConfig("bob@contoso.example", admin.AdminDirectoryResourceCalendarReadonlyScope).Client(e.ctx())
	dir, err = admin.NewService(e.ctx(), option.WithEndpoint(e.g.DirectoryEndpoint()), option.WithHTTPClient(client))
	require.NoError(t, err)
	_, err = dir.Resources.Calendars.List("my_customer").Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusForbidden, ge.Code)
	assert.Equal(t, "Not Authorized to access this resource/api", ge.Message)
}

// TestCalendarRateLimit: a calendar limited to one request per ten minutes answers 429
// rateLimitExceeded with Retry-After for the rest of the period, counts a request sent
// before that wait as an early retry, and answers again once it has passed.
func TestCalendarRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	svc := e.admin()
	require.NoError(t, e.g.SetCalendarRateLimit(room1, 1, 10*time.Minute))
	_, err := svc.Events.List(room1).Do()
	require.NoError(t, err)
	e.clk.Advance(4 * time.Minute)
	_, err = svc.Events.List(room1).Do()
	ge := apiErr(t, err)
	assert.Equal(t, http.StatusTooManyRequests, ge.Code)
	assert.Equal(t, "rateLimitExceeded", reason(ge))
	assert.Equal(t, "360", ge.Header.Get("Retry-After"))
	assert.Zero(t, e.g.CalendarStats(room1).EarlyRetries)
	e.clk.Advance(time.Minute)
	_, err = svc.Events.List(room1).Do()
	apiErr(t, err)
	assert.Equal(t, 1, e.g.CalendarStats(room1).EarlyRetries, "asked again before Retry-After")
	e.clk.Advance(5 * time.Minute)
	_, err = svc.Events.List(room1).Do()
	require.NoError(t, err, "the wait has passed")
	assert.Equal(t, 2, e.g.CalendarStats(room1).RateLimited)
	_, err = svc.Events.List(room2).Do()
	require.NoError(t, err, "other calendars are not limited")
}
