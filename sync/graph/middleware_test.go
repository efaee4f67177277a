package graph

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	khttp "github.com/microsoft/kiota-http-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/secret"
)

// TestSDKClientLeavesRetriesToTheSyncerAndSendsBodiesPlain: the SDK's middleware chain as the
// syncer uses it answers a 429 once (the syncer owns retries and Retry-After, so a retry
// inside the SDK would spend requests behind the budget's back), sends request bodies
// uncompressed, still sends Graph's SDK telemetry header, and refuses a request without a
// token.
func TestSDKClientLeavesRetriesToTheSyncerAndSendsBodiesPlain(t *testing.T) {
	var hits atomic.Int32
	var encoding, sdkVersion, body atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		encoding.Store(r.Header.Get("Content-Encoding"))
		sdkVersion.Store(r.Header.Get("SdkVersion"))
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	a, err := newAPI(Integration{Name: "m365", ClientID: "app", ClientSecret: secret.New("s3cret"),
		TokenURL: srv.URL + "/contoso.example/oauth2/v2.0/token", GraphURL: srv.URL + "/v1.0"}, srv.Client())
	require.NoError(t, err)
	client := a.sdkHTTPClient()

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/users/room@contoso.example/calendar/getSchedule",
		strings.NewReader(`{"schedules":["room@contoso.example"]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the 429 reaches the syncer")
	assert.Equal(t, int32(1), hits.Load(), "no retry inside the SDK")
	assert.Empty(t, encoding.Load(), "request bodies are sent plain")
	assert.Equal(t, `{"schedules":["room@contoso.example"]}`, body.Load())
	assert.NotEmpty(t, sdkVersion.Load(), "Graph's SdkVersion telemetry header is still sent")

	req, err = http.NewRequest(http.MethodGet, srv.URL+"/v1.0/users/room@contoso.example/calendarView/delta()", nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.ErrorIs(t, err, errNoToken)
	assert.Equal(t, int32(1), hits.Load(), "a request without a token never leaves")
}

// TestSDKClientSendsTheBodysLength: a body as kiota sets it (a bytes.Reader behind its
// NopCloser, no length) reaches Graph with its Content-Length, over HTTP/2 as in production,
// not as a stream of unknown length (for which net/http takes a scratch buffer of up to 512 KiB
// a request).
func TestSDKClientSendsTheBodysLength(t *testing.T) {
	type seen struct {
		length int64
		body   string
		proto  int
	}
	got := make(chan seen, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.ContentLength, string(b), r.ProtoMajor}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	a, err := newAPI(Integration{Name: "m365", ClientID: "app", ClientSecret: secret.New("s3cret"),
		TokenURL: srv.URL + "/contoso.example/oauth2/v2.0/token", GraphURL: srv.URL + "/v1.0"}, srv.Client())
	require.NoError(t, err)

	const batch = `{"requests":[{"id":"1","method":"GET","url":"/users/room@contoso.example/calendarView/delta()"}]}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/$batch", nil)
	require.NoError(t, err)
	req.Body = khttp.NopCloser(bytes.NewReader([]byte(batch))) // as kiota's request adapter does
	req.Header.Set("Authorization", "Bearer token")
	req.Header.Set("Content-Type", "application/json")
	require.Zero(t, req.ContentLength)
	resp, err := a.sdkHTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	s := <-got
	assert.Equal(t, 2, s.proto)
	assert.Equal(t, int64(len(batch)), s.length, "the request says how long its body is")
	assert.Equal(t, batch, s.body)
}

func TestBodyLengthLeavesTheReaderWhereItWas(t *testing.T) {
	r := bytes.NewReader([]byte("0123456789"))
	_, err := r.Seek(4, io.SeekStart)
	require.NoError(t, err)
	n, err := bodyLength(r)
	require.NoError(t, err)
	assert.Equal(t, int64(6), n)
	rest, _ := io.ReadAll(r)
	assert.Equal(t, "456789", string(rest))
}
