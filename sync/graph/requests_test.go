package graph

import (
	"context"
	"net/http"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/secret"
)

// TestRequestsMatchTheGeneratedSDK builds every request kind the syncer sends both with
// requestInfo and with msgraph-sdk-go's generated request builders (which the product no
// longer links, for its size; this test does): URL, method and headers must be the same.
func TestRequestsMatchTheGeneratedSDK(t *testing.T) {
	ctx := context.Background()
	in := Integration{Name: "m365", ClientID: "app", ClientSecret: secret.New("s3cret"),
		TokenURL: "https://login.example/contoso.example/oauth2/v2.0/token", GraphURL: "https://graph.example/v1.0"}
	a, err := newAPI(in, http.DefaultClient)
	require.NoError(t, err)
	adapter, _ := a.current()
	sdk := msgraphsdk.NewGraphServiceClient(adapter)

	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 9)
	s, e := start.Format(time.RFC3339), end.Format(time.RFC3339)
	const room = "Room-01@Contoso.example"
	link := "https://graph.example/v1.0/users/room-01@contoso.example/calendarView/delta()?$deltatoken=abc%2Bdef"
	top := int32(100)
	user := sdk.Users().ByUserId(room)
	tests := []struct {
		name string
		spec reqSpec
		want func() (*abstractions.RequestInformation, error)
	}{
		{"delta round start", reqSpec{kind: kindDeltaStart, mailbox: room, start: start, end: end}, func() (*abstractions.RequestInformation, error) {
			return user.CalendarView().Delta().ToGetRequestInformation(ctx, &users.ItemCalendarViewDeltaRequestBuilderGetRequestConfiguration{
				Headers:         preferHeaders(),
				QueryParameters: &users.ItemCalendarViewDeltaRequestBuilderGetQueryParameters{StartDateTime: &s, EndDateTime: &e},
			})
		}},
		{"next or delta link", reqSpec{kind: kindLink, mailbox: room, link: link}, func() (*abstractions.RequestInformation, error) {
			return user.CalendarView().Delta().WithUrl(link).ToGetRequestInformation(ctx,
				&users.ItemCalendarViewDeltaRequestBuilderGetRequestConfiguration{Headers: preferHeaders()})
		}},
		{"series master", reqSpec{kind: kindMaster, mailbox: room, eventID: "AAMk/a+b=="}, func() (*abstractions.RequestInformation, error) {
			return user.Events().ByEventId("AAMk/a+b==").ToGetRequestInformation(ctx, &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{
				Headers:         preferHeaders(),
				QueryParameters: &users.ItemEventsEventItemRequestBuilderGetQueryParameters{Select: masterFields},
			})
		}},
		{"check probe", reqSpec{kind: kindProbe, mailbox: room, start: start, end: end}, func() (*abstractions.RequestInformation, error) {
			return user.CalendarView().ToGetRequestInformation(ctx, &users.ItemCalendarViewRequestBuilderGetRequestConfiguration{
				Headers: preferHeaders(),
				QueryParameters: &users.ItemCalendarViewRequestBuilderGetQueryParameters{StartDateTime: &s, EndDateTime: &e,
					Top: &top, Select: []string{"id", "start", "end"}},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.want()
			require.NoError(t, err)
			got, err := a.requestInfo(ctx, tt.spec)
			require.NoError(t, err)
			// The adapter fills the base URL in when it sends (as it does for the builders').
			got.PathParameters["baseurl"] = adapter.GetBaseUrl()
			wantURL, err := want.GetUri()
			require.NoError(t, err)
			gotURL, err := got.GetUri()
			require.NoError(t, err)
			assert.Equal(t, wantURL.String(), gotURL.String())
			assert.Equal(t, want.Method, got.Method)
			for _, k := range want.Headers.ListKeys() {
				assert.ElementsMatch(t, want.Headers.Get(k), got.Headers.Get(k), "header %s (values are a set)", k)
			}
			assert.ElementsMatch(t, want.Headers.ListKeys(), got.Headers.ListKeys())
		})
	}
}
