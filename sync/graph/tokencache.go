package graph

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tokenCache answers the SDK's token requests from the last token while it is fresh. The SDK
// asks for a token on every request; azidentity answers from MSAL's cache, but through its
// locks, an account and authority lookup and copies each time: ~5 % of the agent's CPU at
// steady state at 1,000 rooms (tens of requests a second), for the same string. It asks the
// credential again at the token's refresh time (RefreshOn, which MSAL sets to half its life)
// or refreshBefore its expiry, whichever is first, so MSAL still refreshes as it would.
// A token Graph rejects is dropped by building a new credential and cache (api.refresh).
type tokenCache struct {
	cred azcore.TokenCredential
	now  func() time.Time

	mu     sync.Mutex
	scopes []string // what tok was asked for
	cae    bool
	tok    azcore.AccessToken
	until  time.Time // the token is handed out before this
}

// refreshBefore is how long before its expiry a cached token is no longer handed out.
const refreshBefore = 5 * time.Minute

func newTokenCache(cred azcore.TokenCredential, now func() time.Time) *tokenCache {
	return &tokenCache{cred: cred, now: now}
}

// GetToken is azcore.TokenCredential's.
func (c *tokenCache) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	// A claims challenge or another tenant goes to the credential every time.
	plain := opts.Claims == "" && opts.TenantID == ""
	if plain {
		c.mu.Lock()
		if c.until.After(c.now()) && c.cae == opts.EnableCAE && slices.Equal(c.scopes, opts.Scopes) {
			tok := c.tok
			c.mu.Unlock()
			return tok, nil
		}
		c.mu.Unlock()
	}
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil || !plain {
		return tok, err
	}
	until := tok.ExpiresOn.Add(-refreshBefore)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(until) {
		until = tok.RefreshOn
	}
	c.mu.Lock()
	c.scopes, c.cae, c.tok, c.until = slices.Clone(opts.Scopes), opts.EnableCAE, tok, until
	c.mu.Unlock()
	return tok, nil
}
