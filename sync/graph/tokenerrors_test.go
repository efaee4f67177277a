package graph

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// TestTokenEndpointFailuresKeepTheirCause: whatever the token endpoint does, the detail an
// operator reads names the HTTP status and what the endpoint said (or the network error when
// it said nothing), then what to do; never a line ending in a bare colon, never the secret.
func TestTokenEndpointFailuresKeepTheirCause(t *testing.T) {
	const room = "room-01@contoso.example"
	check := func(t *testing.T, in Integration, client *http.Client) string {
		t.Helper()
		rep := Check(t.Context(), in, []string{room}, client)
		require.False(t, rep.TokenOK)
		d := rep.TokenDetail
		assert.NotContains(t, d, "\n")
		assert.False(t, strings.HasSuffix(strings.TrimSpace(d), ":"), "a bare colon at the end: %q", d)
		assert.NotContains(t, d, ": —", "a colon with nothing after it: %q", d)
		return d
	}

	t.Run("wrong secret", func(t *testing.T) {
		h := newHarness(t, graphsim.Options{}, room)
		h.in.ClientSecret = configSecret(graphsim.DefaultSecretID)
		d := check(t, h.in, nil)
		assert.True(t, strings.HasPrefix(d, "token endpoint: HTTP 401: AADSTS7000215: Invalid client secret provided."), d)
		assert.Contains(t, d, " — the client secret value is wrong")
		assert.NotContains(t, d, "Trace ID", "only the description's first line")
		assert.NotContains(t, d, graphsim.DefaultSecretID)
	})

	t.Run("Entra unavailable", func(t *testing.T) {
		h := newHarness(t, graphsim.Options{}, room)
		_, err := h.sim.AddFault(graphsim.Fault{Kind: graphsim.FaultToken, Status: http.StatusServiceUnavailable})
		require.NoError(t, err)
		d := check(t, h.in, nil)
		assert.True(t, strings.HasPrefix(d, "token endpoint: HTTP 503: AADSTS90024: The service is temporarily unavailable."), d)
		assert.Contains(t, d, "retrying")
	})

	t.Run("a proxy answers with HTML", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html><head><style>h1{}</style></head><body><h1>502 Bad Gateway</h1><p>upstream timed out</p></body></html>")
		}))
		defer srv.Close()
		h := newHarness(t, graphsim.Options{}, room)
		h.in.TokenURL = srv.URL + "/contoso/oauth2/v2.0/token"
		d := check(t, h.in, srv.Client())
		assert.Equal(t, "token endpoint: HTTP 502: 502 Bad Gateway upstream timed out (text/html) — the token endpoint is failing; retrying", d)
	})

	t.Run("nothing listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		h := newHarness(t, graphsim.Options{}, room)
		h.in.TokenURL = "https://" + addr + "/contoso/oauth2/v2.0/token"
		d := check(t, h.in, nil)
		assert.True(t, strings.HasPrefix(d, "token endpoint: no answer: "), d)
		assert.Contains(t, d, "connection refused")
		assert.Contains(t, d, "check DNS, the proxy")
		assert.NotContains(t, d, "To troubleshoot")
	})

	t.Run("an endpoint that echoes the request", func(t *testing.T) {
		const secret = "s3cr3t-value-that-must-not-show"
		var srv *httptest.Server
		srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
				w.Header().Set("Content-Type", "application/json")
				base := srv.URL + "/contoso"
				_, _ = fmt.Fprintf(w, `{"token_endpoint":%q,"authorization_endpoint":%q,"issuer":%q}`,
					base+"/oauth2/v2.0/token", base+"/oauth2/v2.0/authorize", base+"/v2.0")
				return
			}
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "bad request: "+r.PostForm.Get("client_secret"))
		}))
		defer srv.Close()
		h := newHarness(t, graphsim.Options{}, room)
		h.in.TokenURL = srv.URL + "/contoso/oauth2/v2.0/token"
		h.in.ClientSecret = configSecret(secret)
		d := check(t, h.in, srv.Client())
		assert.True(t, strings.HasPrefix(d, "token endpoint: HTTP 400: bad request: [redacted] (text/plain)"), d)
		assert.NotContains(t, d, secret)
	})
}
