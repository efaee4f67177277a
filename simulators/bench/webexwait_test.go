package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/webexsim"
)

// benchClock is a settable clock: webexsim reads it, and the waiter's sleeps move it.
type benchClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *benchClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *benchClock) sleep(_ context.Context, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(max(d, 0))
	return true
}

// The steady window does not start inside a Retry-After webexsim gave: the waiter reads the
// block from webexsim's admin stats and waits until it has ended, and says how long it
// waited; with no block it does not wait, and a block that outlasts its limit is an error.
func TestSteadyWindowWaitsOutTheColdStartsRetryAfter(t *testing.T) {
	clk := &benchClock{t: time.Date(2026, 3, 2, 10, 28, 0, 0, time.UTC)}
	s, err := webexsim.New(webexsim.Options{Now: clk.Now, RateLimit: 1, RateWindow: 20 * time.Second})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	st := &site{webex: &webexSite{admin: s.AdminURL()}}
	w := blockWaiter{stats: func(ctx context.Context) (webexsim.Stats, error) { return webexStats(ctx, st) }, now: clk.Now, sleep: clk.sleep}
	ctx := context.Background()

	waited, err := w.wait(ctx)
	require.NoError(t, err)
	assert.Zero(t, waited, "nothing blocked: the window starts at once")

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA().Pool()}}}
	tok := s.IssueTokens(nil).AccessToken
	get := func() int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL()+"/devices", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get())
	clk.sleep(ctx, 5*time.Second)
	require.Equal(t, http.StatusTooManyRequests, get(), "the second request of the window") // Retry-After 15 s

	waited, err = w.wait(ctx)
	require.NoError(t, err)
	assert.InDelta(t, 15.1, waited.Seconds(), 0.01, "until the Retry-After ended")
	assert.Equal(t, http.StatusOK, get(), "the token is served again when the window starts")

	// A block longer than the waiter's limit is an error, not an endless wait.
	s.RateLimitBurst(1, 10*time.Minute)
	require.Equal(t, http.StatusTooManyRequests, get())
	_, err = w.wait(ctx)
	assert.ErrorContains(t, err, "still refuses the agent's Webex token")
}
