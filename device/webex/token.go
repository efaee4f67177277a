package webex

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/tokenvault"
)

// Tokens. A Webex integration's refresh token buys access tokens (14 days) at the token URL;
// Webex may answer with a new refresh token, and then the old one stops working. The newest
// refresh token (and the access token, so `otj-edge check` need not refresh) is kept sealed in
// the state directory (agent/tokenvault, file tokens/webex-<connection>.sealed), written
// before the new access token is used. The config's refresh_token is only the first one: the
// vault remembers which config token it descends from (its SHA-256), so an operator who pastes
// a new refresh token after a re-authorisation is heard, and an unchanged config never
// overrides a rotated token.

// sealed is what the vault keeps per connection.
type sealed struct {
	Seed         string    `json:"seed_sha256"` // SHA-256 of the config refresh token it descends from
	RefreshToken string    `json:"refresh_token"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expires      time.Time `json:"expires,omitzero"`
}

// AuthError is a refresh Webex refused for good (invalid_grant, a wrong client): nothing
// works until someone re-authorises the integration.
type AuthError struct {
	Connection string
	Code       string // OAuth error code, e.g. invalid_grant
	Message    string // Webex's description
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("Webex refused the refresh token of connection %q (%s: %s): %s", e.Connection, e.Code, e.Message, reauthSteps(e.Connection))
}

// reauthSteps is what an operator does after invalid_grant.
func reauthSteps(conn string) string {
	return fmt.Sprintf("re-authorise the Webex integration (its OAuth authorization URL, signed in as an admin who can use the devices' xAPI), "+
		"put the new refresh token into webex %q refresh_token (or its refresh_token_file), then run otj-edge reload", conn)
}

func seedOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// vaultName is the connection's file name in the vault.
func vaultName(conn string) string { return "webex-" + conn }

// tokens is one connection's token state (guarded by conn.mu).
type tokens struct {
	seed    string // of the config's refresh token
	refresh string
	access  string
	expires time.Time
	stamp   tokenvault.Stamp // the vault version refresh came from ("" none)
	authErr *AuthError
}

// loadTokens picks the refresh token: the vault's when it descends from the config's token,
// else the config's.
func (c *conn) loadTokens() {
	c.tok.seed = seedOf(c.cfg.RefreshToken)
	c.tok.refresh = c.cfg.RefreshToken
	if c.m.opts.Vault == nil {
		return
	}
	b, stamp, err := c.m.opts.Vault.Get(vaultName(c.cfg.Name))
	if err != nil {
		if !errors.Is(err, tokenvault.ErrNotFound) {
			c.log.Warn("cannot read the stored Webex token; using the config's refresh token", "err", err)
		}
		return
	}
	var s sealed
	if json.Unmarshal(b, &s) != nil || s.Seed != c.tok.seed || s.RefreshToken == "" {
		return // another config token: the operator re-authorised, the config wins
	}
	c.tok.refresh, c.tok.access, c.tok.expires, c.tok.stamp = s.RefreshToken, s.AccessToken, s.Expires, stamp
}

// reloadIfNewer takes a token another process (`otj-edge check`) stored since we read ours.
func (c *conn) reloadIfNewer() {
	if c.m.opts.Vault == nil {
		return
	}
	if cur, err := c.m.opts.Vault.Current(vaultName(c.cfg.Name)); err == nil && cur != "" && cur != c.tok.stamp {
		c.loadTokens()
	}
}

// accessToken returns a valid access token, refreshing it when it expires within
// refreshMargin. Only one refresh runs at a time per connection.
func (c *conn) accessToken(ctx context.Context) (string, error) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.tok.authErr != nil {
		return "", c.tok.authErr
	}
	now := c.m.opts.Clock.Now()
	if c.tok.access != "" && now.Before(c.tok.expires.Add(-refreshMargin(c.tok.expires, now))) {
		return c.tok.access, nil
	}
	c.reloadIfNewer()
	if c.tok.access != "" && now.Before(c.tok.expires.Add(-refreshMargin(c.tok.expires, now))) {
		return c.tok.access, nil
	}
	return c.refreshLocked(ctx)
}

// refreshMargin: refresh a day before a 14-day token ends (and never use one in its last
// minute), so a Webex outage at the wrong moment does not stop pushes.
func refreshMargin(expires, now time.Time) time.Duration {
	return min(24*time.Hour, max(time.Minute, expires.Sub(now)/10))
}

// dropAccess forgets an access token Webex refused (401), so the next call refreshes.
func (c *conn) dropAccess(tok string) {
	c.tmu.Lock()
	if c.tok.access == tok {
		c.tok.access, c.tok.expires = "", time.Time{}
	}
	c.tmu.Unlock()
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
	Message      string `json:"message"`
	TrackingID   string `json:"trackingId"`
}

// refreshLocked trades the refresh token for an access token (c.tmu held).
func (c *conn) refreshLocked(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret}, "refresh_token": {c.tok.refresh}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("webex %s: token request: %w", c.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.m.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("webex %s: refresh the access token at %s: %w", c.cfg.Name, c.cfg.TokenURL, scrubErr(err, c.cfg))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var tr tokenResponse
	_ = json.Unmarshal(body, &tr)
	c.m.stats.refreshed()
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		code := tr.Error
		switch {
		case code == "invalid_grant", code == "invalid_client", code == "unauthorized_client",
			code == "" && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest):
			if code == "" {
				code = fmt.Sprintf("HTTP %d", resp.StatusCode)
			}
			msg := firstOf(tr.Description, tr.Message, http.StatusText(resp.StatusCode))
			c.tok.authErr = &AuthError{Connection: c.cfg.Name, Code: code, Message: msg}
			c.log.Error("Webex refused the refresh token", "code", code, "message", msg, "tracking_id", tr.TrackingID)
			return "", c.tok.authErr
		}
		return "", &APIError{Op: "refresh the access token", Status: resp.StatusCode, Message: firstOf(tr.Description, tr.Message), TrackingID: tr.TrackingID}
	}
	now := c.m.opts.Clock.Now()
	expires := now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	if tr.ExpiresIn <= 0 {
		expires = now.Add(time.Hour)
	}
	rotated := tr.RefreshToken != "" && tr.RefreshToken != c.tok.refresh
	if tr.RefreshToken != "" {
		c.tok.refresh = tr.RefreshToken
	}
	c.tok.access, c.tok.expires = tr.AccessToken, expires
	c.persistLocked()
	if rotated {
		c.log.Info("Webex rotated the refresh token; the new one is stored sealed", "file", c.vaultPath())
	}
	return tr.AccessToken, nil
}

// persistLocked seals the current tokens. A failure is logged and shown: the rotated refresh
// token lives only in memory until it works, and a restart would need a re-authorisation.
func (c *conn) persistLocked() {
	if c.m.opts.Vault == nil {
		return
	}
	b, _ := json.Marshal(sealed{Seed: c.tok.seed, RefreshToken: c.tok.refresh, AccessToken: c.tok.access, Expires: c.tok.expires})
	stamp, err := c.m.opts.Vault.Put(vaultName(c.cfg.Name), b)
	if err != nil {
		c.vaultErr = err.Error()
		c.log.Error("cannot store the Webex token; after a restart the integration may need re-authorising", "err", err)
		return
	}
	c.tok.stamp, c.vaultErr = stamp, ""
}

func (c *conn) vaultPath() string {
	if c.m.opts.Vault == nil {
		return ""
	}
	return c.m.opts.Vault.Path(vaultName(c.cfg.Name))
}

// clearAuthErr lets a Retry try the refresh again (the operator may have re-authorised and
// reloaded a vault written by another process).
func (c *conn) clearAuthErr() {
	c.tmu.Lock()
	c.tok.authErr = nil
	c.loadTokens()
	c.tmu.Unlock()
}

func firstOf(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// scrubErr keeps secrets out of a transport error (url.Error quotes the URL, not the body,
// but be sure).
func scrubErr(err error, cfg Connection) error {
	msg := err.Error()
	for _, s := range []string{cfg.ClientSecret, cfg.RefreshToken} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return errors.New(msg)
}
