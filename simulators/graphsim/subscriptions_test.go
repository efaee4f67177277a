package graphsim

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// subscriber is an HTTPS endpoint (graphsim's CA) that answers validation and records
// notification bodies.
type subscriber struct {
	url      string
	mu       sync.Mutex
	bodies   []string
	validate bool
}

func newSubscriber(t *testing.T, s *Server, validate bool) *subscriber {
	sub := &subscriber{validate: validate}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			if !sub.validate {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		b, _ := io.ReadAll(r.Body)
		sub.mu.Lock()
		sub.bodies = append(sub.bodies, string(b))
		sub.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	cert, err := s.CA().Issue("127.0.0.1")
	require.NoError(t, err)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	sub.url = srv.URL + "/notify"
	return sub
}

func (sub *subscriber) received() []string {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return append([]string(nil), sub.bodies...)
}

func graphCall(t *testing.T, s *Server, tok, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.GraphURL()+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSubscriptionsAPI: create validates the endpoint and applies Graph's expiry limit and
// mailbox checks; changes to the room's events are POSTed with the subscription's clientState;
// PATCH renews, DELETE removes, an expired subscription is gone; lost, duplicated and delayed
// notifications behave as their faults say.
func TestSubscriptionsAPI(t *testing.T) {
	s, clk := start(t, Options{})
	const room = "room-1@contoso.example"
	require.NoError(t, s.AddRoom(Room{Mailbox: room}))
	tok := token(t, s)
	sub := newSubscriber(t, s, true)
	create := func(url, resource string, exp time.Time) (int, map[string]any) {
		return graphCall(t, s, tok, http.MethodPost, "/subscriptions", map[string]string{"changeType": "created,updated,deleted",
			"notificationUrl": url, "lifecycleNotificationUrl": url, "resource": resource,
			"expirationDateTime": exp.Format(time.RFC3339), "clientState": "secret-state"})
	}
	status, body := create(sub.url, "users/"+room+"/events", clk.Now().Add(SubscriptionMaxLifetime+time.Minute))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body["error"].(map[string]any)["message"], "10080 minutes")
	status, _ = create(sub.url, "users/nobody@contoso.example/events", clk.Now().Add(time.Hour))
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = create(strings.Replace(sub.url, "https:", "http:", 1), "users/"+room+"/events", clk.Now().Add(time.Hour))
	assert.Equal(t, http.StatusBadRequest, status)
	bad := newSubscriber(t, s, false)
	status, body = create(bad.url, "users/"+room+"/events", clk.Now().Add(time.Hour))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "ValidationError", body["error"].(map[string]any)["code"])

	status, body = create(sub.url, "users/"+room+"/events", clk.Now().Add(time.Hour))
	require.Equal(t, http.StatusCreated, status)
	id := body["id"].(string)
	assert.Nil(t, body["clientState"], "Graph does not return the clientState")

	evID, err := s.PostEvent(room, map[string]any{"subject": "x", "organizer": map[string]any{"emailAddress": map[string]any{"address": "a@contoso.example"}},
		"start": map[string]any{"dateTime": "2026-11-24T10:00:00", "timeZone": "UTC"}, "end": map[string]any{"dateTime": "2026-11-24T11:00:00", "timeZone": "UTC"}})
	require.NoError(t, err)
	s.WaitNotifications()
	got := sub.received()
	require.Len(t, got, 1)
	var n struct {
		Value []map[string]any `json:"value"`
	}
	require.NoError(t, json.Unmarshal([]byte(got[0]), &n))
	assert.Equal(t, id, n.Value[0]["subscriptionId"])
	assert.Equal(t, "secret-state", n.Value[0]["clientState"])
	assert.Equal(t, "created", n.Value[0]["changeType"])
	assert.Contains(t, n.Value[0]["resource"], evID)
	assert.NotEmpty(t, n.Value[0]["subscriptionExpirationDateTime"])

	// Faults: lost, duplicated, delayed (held until its time has come and a flush).
	_, err = s.AddNotifyFault(NotifyFault{Kind: NotifyLost, Count: 1})
	require.NoError(t, err)
	_, err = s.AddNotifyFault(NotifyFault{Kind: NotifyDuplicated, Count: 1})
	require.NoError(t, err)
	_, err = s.AddNotifyFault(NotifyFault{Kind: NotifyDelayed, Delay: Duration(time.Minute), Count: 1})
	require.NoError(t, err)
	for range 3 {
		_, err = s.PatchEvent(room, evID, map[string]any{"subject": "y"})
		require.NoError(t, err)
	}
	s.WaitNotifications()
	assert.Len(t, sub.received(), 3, "one lost, one twice, one held")
	s.FlushNotifications()
	s.WaitNotifications()
	assert.Len(t, sub.received(), 3, "held until its delay has passed")
	clk.Add(time.Minute)
	s.FlushNotifications()
	s.WaitNotifications()
	assert.Len(t, sub.received(), 4)

	// Lifecycle, renew, expiry, delete.
	require.NoError(t, s.Lifecycle(id, LifecycleMissed))
	s.WaitNotifications()
	assert.Contains(t, sub.received()[4], `"lifecycleEvent":"missed"`)
	status, _ = graphCall(t, s, tok, http.MethodPatch, "/subscriptions/"+id, map[string]string{"expirationDateTime": clk.Now().Add(2 * time.Hour).Format(time.RFC3339)})
	assert.Equal(t, http.StatusOK, status)
	clk.Add(90 * time.Minute)
	require.Len(t, s.Subscriptions(), 1, "renewed past its first expiry")
	clk.Add(time.Hour)
	assert.Empty(t, s.Subscriptions(), "expired")
	tok = token(t, s) // the first one expired too
	status, _ = graphCall(t, s, tok, http.MethodPatch, "/subscriptions/"+id, map[string]string{"expirationDateTime": clk.Now().Add(time.Hour).Format(time.RFC3339)})
	assert.Equal(t, http.StatusNotFound, status)
	status, body = create(sub.url, "users/"+room+"/events", clk.Now().Add(time.Hour))
	require.Equal(t, http.StatusCreated, status)
	status, _ = graphCall(t, s, tok, http.MethodDelete, "/subscriptions/"+body["id"].(string), nil)
	assert.Equal(t, http.StatusNoContent, status)
	assert.Empty(t, s.Subscriptions())
	st := s.NotifyStats()
	assert.Equal(t, 2, st.Creates)
	assert.Equal(t, 1, st.Renewals)
	assert.Equal(t, 1, st.Deletes)
	assert.Equal(t, 1, st.ValidationBad)
}
