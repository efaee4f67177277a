package sdkcheck

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // a Monday

// staticToken hands the SDK an app-only token got from graphsim's token endpoint.
type staticToken string

func (t staticToken) GetAuthorizationToken(context.Context, *url.URL, map[string]any) (string, error) {
	return string(t), nil
}

func (t staticToken) GetAllowedHostsValidator() *authentication.AllowedHostsValidator {
	v := authentication.NewAllowedHostsValidator(nil) // no list: every host
	return &v
}

func appToken(t *testing.T, s *graphsim.Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := s.HTTPClient().PostForm(s.TokenURL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, jsonDecode(resp, &tok))
	return tok.AccessToken
}

// sdkClient is msgraph-sdk-go with its default middleware (request bodies gzipped, as the SDK
// sends them) pointed at graphsim.
func sdkClient(t *testing.T, s *graphsim.Server) *msgraphsdk.GraphServiceClient {
	t.Helper()
	opts := msgraphsdk.GetDefaultClientOptions()
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA().Pool()}}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(base, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout: 30 * time.Second}
	auth := authentication.NewBaseBearerTokenAuthenticationProvider(staticToken(appToken(t, s)))
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	require.NoError(t, err)
	adapter.SetBaseUrl(s.GraphURL())
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func dtz(t time.Time) models.DateTimeTimeZoneable {
	v := models.NewDateTimeTimeZone()
	v.SetDateTime(ptr(t.UTC().Format("2006-01-02T15:04:05")))
	v.SetTimeZone(ptr("UTC"))
	return v
}

func ptr[T any](v T) *T { return &v }

// TestSDKParsesGetSchedule: the SDK's GetSchedule().PostAsGetSchedulePostResponse reads
// graphsim's answer: statuses as freeBusyStatus values, times, limited details, the
// availability view and a per-schedule error.
func TestSDKParsesGetSchedule(t *testing.T) {
	s, err := graphsim.New(graphsim.Options{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	room := "room-01@contoso.example"
	require.NoError(t, s.AddRoom(graphsim.Room{Mailbox: room, Processing: ptr(graphsim.Recommended()),
		FreeBusyDetails: graphsim.FreeBusyLimitedDetails}))
	ev := map[string]any{"subject": "Design review",
		"start":     map[string]any{"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": "2026-11-23T11:00:00", "timeZone": "UTC"},
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "Alice Berg", "address": "alice.berg@contoso.example"}}}
	_, err = s.PostEvent(room, ev)
	require.NoError(t, err)

	body := users.NewItemCalendarGetSchedulePostRequestBody()
	body.SetSchedules([]string{room, "nobody@contoso.example"})
	body.SetStartTime(dtz(t0))
	body.SetEndTime(dtz(t0.Add(3 * time.Hour)))
	body.SetAvailabilityViewInterval(ptr(int32(60)))
	resp, err := sdkClient(t, s).Users().ByUserId(room).Calendar().GetSchedule().PostAsGetSchedulePostResponse(context.Background(), body, nil)
	require.NoError(t, err)
	infos := resp.GetValue()
	require.Len(t, infos, 2)
	assert.Equal(t, room, *infos[0].GetScheduleId())
	assert.Equal(t, "020", *infos[0].GetAvailabilityView())
	items := infos[0].GetScheduleItems()
	require.Len(t, items, 1)
	assert.Equal(t, models.BUSY_FREEBUSYSTATUS, *items[0].GetStatus())
	assert.Equal(t, "Design review", *items[0].GetSubject())
	assert.False(t, *items[0].GetIsPrivate())
	assert.Equal(t, "2026-11-23T10:00:00.0000000", *items[0].GetStart().GetDateTime())
	assert.Equal(t, "UTC", *items[0].GetEnd().GetTimeZone())
	require.NotNil(t, infos[0].GetWorkingHours())
	assert.Len(t, infos[0].GetWorkingHours().GetDaysOfWeek(), 5)
	require.NotNil(t, infos[1].GetError())
	assert.Equal(t, "5016", *infos[1].GetError().GetResponseCode())
	assert.Empty(t, infos[1].GetScheduleItems())
	assert.Equal(t, 1, s.MailboxStats(room).GetSchedules)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
