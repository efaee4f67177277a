package graph

// Delegated sign-in (README "Calendar sync (Microsoft Graph)", delegated): instead of an app
// permission, a service account that has been given access to the room calendars signs in
// once with the device-code flow (otj-edge auth login, delegated_login.go); the agent keeps
// its refresh token sealed in the state directory (agent/tokenvault) and turns it into access
// tokens for the msgraph SDK (delegated_cred.go), rotating it as Entra returns new ones. The
// rooms are read with calendarView windows, not delta (delegated_view.go): Graph refuses the
// nextLink and deltaLink of another mailbox's calendar read with a delegated token.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/tokenvault"
)

// Auth modes of a Graph integration.
const (
	AuthAppOnly   = "app-only"
	AuthDelegated = "delegated"
)

// DefaultDelegatedScopes are the delegated permissions asked for by default: read calendars
// shared with the account, and a refresh token. Place.Read.All is added when room discovery
// is used.
var DefaultDelegatedScopes = []string{"Calendars.Read.Shared", "offline_access"}

// Delegated reports whether the integration reads through a signed-in account.
func (in Integration) Delegated() bool { return in.Auth == AuthDelegated }

// deviceCodeNote is said wherever a delegated sign-in fails for good: the facts an operator
// needs to choose (ews-source.md §B1, ENTRA/identity/conditional-access/concept-authentication-flows).
const deviceCodeNote = "Microsoft recommends blocking the device-code flow, and Entra tracks sessions that began with it, " +
	"so a later Conditional Access block also stops their refreshes; the durable alternative is auth: app-only with a client certificate"

// requestScopes is the scope parameter of the device-code and refresh requests: Graph
// permissions named on graph_url's resource (so national clouds work), the OIDC scopes as
// they are, plus openid and profile for the id_token that says who signed in.
func requestScopes(in Integration) string {
	scopes := in.Scopes
	if len(scopes) == 0 {
		scopes = DefaultDelegatedScopes
	}
	resource := "https://graph.microsoft.com"
	if u, err := url.Parse(in.GraphURL); err == nil && u.Host != "" {
		resource = u.Scheme + "://" + u.Host
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "offline_access" || s == "openid" || s == "profile" || s == "email" || strings.Contains(s, "://"):
			add(s)
		default:
			add(resource + "/" + s)
		}
	}
	add("offline_access")
	add("openid")
	add("profile")
	return strings.Join(out, " ")
}

// Account is what the vault keeps of a signed-in account: its refresh token and what `auth
// status` shows. The refresh token never leaves this package but to the token endpoint.
type Account struct {
	RefreshToken string    `json:"refresh_token"`
	User         string    `json:"user"` // preferred_username (UPN) from the id_token
	Name         string    `json:"name,omitempty"`
	SignedInAt   time.Time `json:"signed_in_at"`
	Scopes       string    `json:"scopes"` // as Entra granted them
	LastRefresh  time.Time `json:"last_refresh,omitzero"`
	ClientID     string    `json:"client_id"`
}

// AccountInfo is an Account without its refresh token (auth status, the API).
type AccountInfo struct {
	Integration string    `json:"integration"`
	SignedIn    bool      `json:"signed_in"`
	User        string    `json:"user,omitempty"`
	Name        string    `json:"name,omitempty"`
	SignedInAt  time.Time `json:"signed_in_at,omitzero"`
	Scopes      string    `json:"scopes,omitempty"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	// Path is the sealed token's file (its key is apart, in the state directory).
	Path string `json:"path,omitempty"`
}

func (a Account) info(integration, path string) AccountInfo {
	return AccountInfo{Integration: integration, SignedIn: true, User: a.User, Name: a.Name, SignedInAt: a.SignedInAt,
		Scopes: a.Scopes, LastRefresh: a.LastRefresh, Path: path}
}

// vaultName is the integration's name in the vault.
func vaultName(integration string) string { return "graph-" + integration }

var errNoVault = errors.New("delegated sign-in needs the state directory's token vault")

func loadAccount(in Integration) (Account, tokenvault.Stamp, error) {
	if in.Tokens == nil {
		return Account{}, "", errNoVault
	}
	b, stamp, err := in.Tokens.Get(vaultName(in.Name))
	if err != nil {
		return Account{}, "", err
	}
	var a Account
	if err := json.Unmarshal(b, &a); err != nil || a.RefreshToken == "" {
		return Account{}, "", fmt.Errorf("the stored sign-in of integration %q is unreadable: run otj-edge auth login %s", in.Name, in.Name)
	}
	return a, stamp, nil
}

func saveAccount(in Integration, a Account) (tokenvault.Stamp, error) {
	if in.Tokens == nil {
		return "", errNoVault
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return in.Tokens.Put(vaultName(in.Name), b)
}

// Status is the integration's signed-in account, without its token.
func Status(in Integration) (AccountInfo, error) {
	a, _, err := loadAccount(in)
	if errors.Is(err, tokenvault.ErrNotFound) {
		return AccountInfo{Integration: in.Name}, nil
	}
	if err != nil {
		return AccountInfo{Integration: in.Name}, err
	}
	return a.info(in.Name, in.Tokens.Path(vaultName(in.Name))), nil
}

// Logout deletes the integration's stored sign-in (seed 001's "Delete access token"); it
// reports whether there was one. A running agent notices at its next request (the credential
// checks the vault's version) and its rooms turn auth_failed "signed out".
func Logout(in Integration) (bool, error) {
	if in.Tokens == nil {
		return false, errNoVault
	}
	return in.Tokens.Delete(vaultName(in.Name))
}

// idClaims reads who signed in from an id_token's payload. The token came straight from the
// token endpoint over TLS and only names the account for display, so its signature is not
// checked.
func idClaims(idToken string) (user, name string) {
	parts := strings.Split(idToken, ".")
	if len(parts) < 2 {
		return "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", ""
	}
	var c struct {
		PreferredUsername string `json:"preferred_username"`
		UPN               string `json:"upn"`
		Name              string `json:"name"`
	}
	_ = json.Unmarshal(b, &c)
	return firstNonEmpty(c.PreferredUsername, c.UPN), c.Name
}
