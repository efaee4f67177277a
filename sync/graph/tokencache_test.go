package graph

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingCred stands in for azidentity's credential: each call is a new token.
type countingCred struct {
	calls int
	life  time.Duration
	half  bool // set RefreshOn at half the life, as MSAL does
	now   func() time.Time
	err   error
}

func (c *countingCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	t := azcore.AccessToken{Token: fmt.Sprintf("token-%d", c.calls), ExpiresOn: c.now().Add(c.life)}
	if c.half {
		t.RefreshOn = c.now().Add(c.life / 2)
	}
	return t, nil
}

// TestTokenCacheHandsOutTheTokenUntilItsRefreshTime: the SDK's request-by-request token asks
// reach the credential once per token, not once per request, and again at the token's refresh
// time, or five minutes before it expires when it has none.
func TestTokenCacheHandsOutTheTokenUntilItsRefreshTime(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	ctx := t.Context()
	graphScope := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}, EnableCAE: true}

	cred := &countingCred{life: time.Hour, half: true, now: clk}
	c := newTokenCache(cred, clk)
	for range 100 {
		tok, err := c.GetToken(ctx, graphScope)
		require.NoError(t, err)
		assert.Equal(t, "token-1", tok.Token)
	}
	assert.Equal(t, 1, cred.calls, "one token for a hundred requests")
	now = now.Add(29 * time.Minute)
	tok, _ := c.GetToken(ctx, graphScope)
	assert.Equal(t, "token-1", tok.Token)
	now = now.Add(time.Minute) // RefreshOn: half the hour
	tok, _ = c.GetToken(ctx, graphScope)
	assert.Equal(t, "token-2", tok.Token, "asked again at RefreshOn")

	plain := &countingCred{life: time.Hour, now: clk}
	c = newTokenCache(plain, clk)
	c.GetToken(ctx, graphScope)
	now = now.Add(54 * time.Minute)
	tok, _ = c.GetToken(ctx, graphScope)
	assert.Equal(t, "token-1", tok.Token)
	now = now.Add(time.Minute)
	tok, _ = c.GetToken(ctx, graphScope)
	assert.Equal(t, "token-2", tok.Token, "asked again five minutes before expiry")
}

// TestTokenCachePassesChallengesAndErrorsThrough: a claims challenge, another scope or a
// failed request for a token is the credential's to answer; a failure is not cached.
func TestTokenCachePassesChallengesAndErrorsThrough(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	ctx := t.Context()
	graphScope := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}
	cred := &countingCred{life: time.Hour, now: clk}
	c := newTokenCache(cred, clk)
	c.GetToken(ctx, graphScope)

	tok, _ := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScope.Scopes, Claims: `{"access_token":{"nbf":{"essential":true}}}`})
	assert.Equal(t, "token-2", tok.Token, "a claims challenge gets a new token")
	tok, _ = c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://other.example/.default"}})
	assert.Equal(t, "token-3", tok.Token, "another scope is asked for")
	tok, _ = c.GetToken(ctx, graphScope)
	assert.Equal(t, "token-4", tok.Token, "the cache holds the last plain answer only")

	now = now.Add(time.Hour)
	cred.err = errors.New("AADSTS7000215: Invalid client secret provided")
	_, err := c.GetToken(ctx, graphScope)
	require.Error(t, err)
	_, err = c.GetToken(ctx, graphScope)
	require.Error(t, err, "a failure is asked again, not cached")
	assert.Equal(t, 6, cred.calls)
}
