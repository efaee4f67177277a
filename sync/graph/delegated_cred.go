package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/otj-edge/otj-edge/agent/tokenvault"
	"github.com/otj-edge/otj-edge/store"
)

// delegatedCred is the azcore credential the msgraph SDK gets in delegated mode: access tokens
// from the stored refresh token (the refresh_token grant), the rotated refresh token sealed
// again before the new access token is used. It looks at the vault's version before each
// token, so a new sign-in (auth login) or a sign-out (auth logout) takes effect in the
// running agent without a restart.
type delegatedCred struct {
	in     Integration
	client doer
	now    func() time.Time

	who atomic.Value // string: the account's UPN, readable while a refresh holds mu

	mu      sync.Mutex
	stamp   tokenvault.Stamp // the vault version acct came from ("" = none loaded)
	acct    Account
	access  string
	expires time.Time
}

var _ azcore.TokenCredential = (*delegatedCred)(nil)

func newDelegatedCred(in Integration, client doer) *delegatedCred {
	return &delegatedCred{in: in, client: client, now: time.Now}
}

// refreshAhead is how long before expiry an access token is renewed.
const refreshAhead = 2 * time.Minute

// GetToken returns an access token (azcore.TokenCredential). Its errors are *tokenError, read
// into a room status by classifyError.
func (c *delegatedCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.in.Tokens == nil {
		return azcore.AccessToken{}, &tokenError{cause: errNoVault, f: signedOut(c.in.Name)}
	}
	cur, err := c.in.Tokens.Current(vaultName(c.in.Name))
	if err != nil {
		return azcore.AccessToken{}, c.fail(err)
	}
	if cur == "" { // never signed in, or signed out
		c.stamp, c.acct, c.access = "", Account{}, ""
		return azcore.AccessToken{}, &tokenError{cause: tokenvault.ErrNotFound, f: signedOut(c.in.Name)}
	}
	if cur != c.stamp { // a new sign-in, or our own first read
		a, stamp, err := loadAccount(c.in)
		if errors.Is(err, tokenvault.ErrNotFound) {
			return azcore.AccessToken{}, &tokenError{cause: err, f: signedOut(c.in.Name)}
		}
		if err != nil {
			return azcore.AccessToken{}, c.fail(err)
		}
		c.stamp, c.acct, c.access = stamp, a, ""
		c.who.Store(a.User)
	}
	now := c.now()
	if c.access != "" && now.Add(refreshAhead).Before(c.expires) {
		return azcore.AccessToken{Token: c.access, ExpiresOn: c.expires}, nil
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.in.ClientID}, "refresh_token": {c.acct.RefreshToken},
		"scope": {requestScopes(c.in)}}
	if v := c.in.ClientSecret.Value(); v != "" {
		form.Set("client_secret", v)
	}
	var ans tokenAnswer
	if err := postForm(ctx, c.client, tokenEndpoint(c.in), form, &ans); err != nil {
		if ctx.Err() != nil {
			return azcore.AccessToken{}, ctx.Err()
		}
		return azcore.AccessToken{}, &tokenError{cause: err, f: delegatedFailure(c.in.Name, c.acct.User, err, c.secrets()...)}
	}
	if ans.AccessToken == "" {
		return azcore.AccessToken{}, c.fail(errors.New("the token endpoint's answer has no access_token"))
	}
	if ans.RefreshToken != "" && ans.RefreshToken != c.acct.RefreshToken {
		// Rotated: seal the new one before using its access token, and only over the version
		// we read (a sign-in made meanwhile wins; a sign-out stays a sign-out).
		if now, err := c.in.Tokens.Current(vaultName(c.in.Name)); err != nil || now != c.stamp {
			c.stamp, c.access = "", ""
			return azcore.AccessToken{}, &tokenError{cause: errors.New("the stored sign-in changed during a refresh"), f: signedOutOrChanged(c.in.Name, now)}
		}
		next := c.acct
		next.RefreshToken, next.LastRefresh = ans.RefreshToken, c.now().UTC()
		if ans.Scope != "" {
			next.Scopes = ans.Scope
		}
		stamp, err := saveAccount(c.in, next)
		if err != nil {
			return azcore.AccessToken{}, c.fail(fmt.Errorf("cannot store the rotated refresh token: %w", err))
		}
		c.stamp, c.acct = stamp, next
	}
	c.access = ans.AccessToken
	c.expires = now.Add(time.Duration(max(ans.ExpiresIn, 60)) * time.Second)
	return azcore.AccessToken{Token: c.access, ExpiresOn: c.expires}, nil
}

// signedOutOrChanged: after a sign-out the rooms say so; after a new sign-in they retry at once.
func signedOutOrChanged(integration string, now tokenvault.Stamp) failure {
	if now == "" {
		return signedOut(integration)
	}
	f := signedOut(integration)
	f.status, f.code, f.retryIn = store.RoomTransient, "signed_in_again", time.Second
	f.detail = "a new sign-in was stored during a token refresh; retrying with it"
	return f
}

// fail is a local failure (the vault): the room says what is wrong.
func (c *delegatedCred) fail(err error) error {
	f := signedOut(c.in.Name)
	f.code = "token_vault"
	f.detail = oneLine(err.Error()) + " (" + loginHint(c.in.Name) + ")"
	return &tokenError{cause: err, f: f}
}

func (c *delegatedCred) secrets() []string {
	out := []string{c.acct.RefreshToken}
	if v := c.in.ClientSecret.Value(); v != "" {
		out = append(out, v)
	}
	return out
}

// user is the signed-in account's UPN ("" before the first token).
func (c *delegatedCred) user() string {
	s, _ := c.who.Load().(string)
	return s
}

// account is the signed-in account the api reads as ("" app-only; "the signed-in account"
// before the first token names it).
func (a *api) account() string {
	if !a.in.Delegated() {
		return ""
	}
	a.mu.Lock()
	c, _ := a.cred.(*delegatedCred)
	a.mu.Unlock()
	if c == nil {
		return "the signed-in account"
	}
	return firstNonEmpty(c.user(), "the signed-in account")
}
