package m365setup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// TokenRequest is what DetectConsent needs to ask Entra for an app-only token.
type TokenRequest struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scope        string // e.g. https://graph.microsoft.com/.default
	Client       *http.Client
}

// DetectConsent asks for an app-only token and reads its roles claim: the application
// permissions the app holds with admin consent. Calendars.Read there means the app may read
// every mailbox whatever an RBAC scope says. A token that is not a readable JWT (a simulator's,
// or an encrypted one) gives ConsentUnknown.
func DetectConsent(ctx context.Context, r TokenRequest) (Consent, []string, error) {
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {r.ClientID}, "client_secret": {r.ClientSecret}, "scope": {r.Scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return ConsentUnknown, nil, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return ConsentUnknown, nil, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ConsentUnknown, nil, fmt.Errorf("token request: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &tok)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return ConsentUnknown, nil, fmt.Errorf("token request: %s %s (otj-edge check says more)", resp.Status, tok.Error)
	}
	roles, ok := tokenRoles(tok.AccessToken)
	if !ok {
		return ConsentUnknown, nil, nil
	}
	for _, role := range roles {
		if role == "Calendars.Read" || role == "Calendars.ReadWrite" || role == "Calendars.ReadBasic.All" {
			return ConsentTenantWide, roles, nil
		}
	}
	return ConsentNone, roles, nil
}

// tokenRoles reads the roles claim of a JWT without verifying it: the token came straight from
// the token endpoint over TLS, and only informs a warning.
func tokenRoles(token string) ([]string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return nil, false
	}
	return claims.Roles, true
}
