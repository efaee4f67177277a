package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/clock"
)

// The device-code sign-in (RFC 8628 as Entra implements it, ews-source.md §B1): ask
// /devicecode for a code, show it, poll the token endpoint every interval (slow_down adds 5 s)
// until the user has signed in, declined, or the code expired, then seal the refresh token.

// DeviceCode is what the person signing in needs: open VerificationURI, enter UserCode.
type DeviceCode struct {
	UserCode        string
	VerificationURI string
	Message         string // Entra's own sentence
	Expires         time.Time
	Interval        time.Duration
}

// LoginOptions are a sign-in's dependencies.
type LoginOptions struct {
	Integration Integration
	// HTTPClient reaches Entra; default the system roots plus ca_file.
	HTTPClient *http.Client
	Clock      clock.Clock
	// Prompt shows the code; it is called once, before polling starts.
	Prompt func(DeviceCode) error
}

// Login errors a caller may tell apart.
var (
	ErrLoginDeclined = errors.New("the sign-in was declined")
	ErrLoginExpired  = errors.New("the code expired before anyone signed in")
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// Login runs the device-code flow and stores the account's refresh token in the vault.
func Login(ctx context.Context, o LoginOptions) (AccountInfo, error) {
	in := o.Integration
	if !in.Delegated() {
		return AccountInfo{}, fmt.Errorf("integration %q does not use auth: delegated", in.Name)
	}
	if in.Tokens == nil {
		return AccountInfo{}, errNoVault
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	client := o.HTTPClient
	if client == nil {
		var err error
		if client, err = baseClient(in.CAFile); err != nil {
			return AccountInfo{}, fmt.Errorf("sign in: %w", err)
		}
	}
	tokenURL := tokenEndpoint(in)
	deviceURL := strings.TrimSuffix(tokenURL, "/token") + "/devicecode"
	scopes := requestScopes(in)
	var dc struct {
		DeviceCode      string `json:"device_code"`
		UserCode        string `json:"user_code"`
		VerificationURI string `json:"verification_uri"`
		ExpiresIn       int    `json:"expires_in"`
		Interval        int    `json:"interval"`
		Message         string `json:"message"`
	}
	if err := postForm(ctx, client, deviceURL, url.Values{"client_id": {in.ClientID}, "scope": {scopes}}, &dc); err != nil {
		return AccountInfo{}, loginError(in, "", err)
	}
	if dc.DeviceCode == "" || dc.UserCode == "" {
		return AccountInfo{}, fmt.Errorf("sign in: %s answered without a device code", deviceURL)
	}
	interval := time.Duration(max(dc.Interval, 1)) * time.Second
	expires := o.Clock.Now().Add(time.Duration(max(dc.ExpiresIn, 60)) * time.Second)
	if o.Prompt != nil {
		if err := o.Prompt(DeviceCode{UserCode: dc.UserCode, VerificationURI: dc.VerificationURI, Message: dc.Message, Expires: expires, Interval: interval}); err != nil {
			return AccountInfo{}, err
		}
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {in.ClientID}, "device_code": {dc.DeviceCode}}
	if v := in.ClientSecret.Value(); v != "" {
		form.Set("client_secret", v)
	}
	for {
		// A new timer per poll (not Reset): tests watch the clock for each wait.
		timer := o.Clock.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return AccountInfo{}, fmt.Errorf("sign in: %w", ctx.Err())
		case <-timer.C():
		}
		var ans tokenAnswer
		err := postForm(ctx, client, tokenURL, form, &ans)
		var e *entraAnswer
		switch {
		case err == nil:
			return storeLogin(in, o.Clock.Now(), ans)
		case errors.As(err, &e) && e.Err == "authorization_pending":
		case errors.As(err, &e) && e.Err == "slow_down":
			interval += slowDownStep
		case errors.As(err, &e) && (e.Err == "expired_token" || e.aadsts() == 70019 || e.aadsts() == 70020):
			return AccountInfo{}, fmt.Errorf("sign in to integration %q: %w (it is valid for %d minutes): run otj-edge auth login %s again",
				in.Name, ErrLoginExpired, max(dc.ExpiresIn, 60)/60, in.Name)
		case errors.As(err, &e) && (e.Err == "authorization_declined" || e.Err == "access_denied"):
			return AccountInfo{}, fmt.Errorf("sign in to integration %q: %w at the sign-in page (or consent was refused): run otj-edge auth login %s and accept",
				in.Name, ErrLoginDeclined, in.Name)
		default:
			if ctx.Err() != nil {
				return AccountInfo{}, fmt.Errorf("sign in: %w", ctx.Err())
			}
			return AccountInfo{}, loginError(in, "", err)
		}
		if !o.Clock.Now().Before(expires) {
			return AccountInfo{}, fmt.Errorf("sign in to integration %q: %w: run otj-edge auth login %s again", in.Name, ErrLoginExpired, in.Name)
		}
	}
}

// loginError is a refused sign-in, with the same advice the running agent gives.
func loginError(in Integration, account string, err error) error {
	f := delegatedFailure(in.Name, account, err, in.ClientSecret.Value())
	return fmt.Errorf("sign in to integration %q: %s", in.Name, f.detail)
}

func storeLogin(in Integration, now time.Time, ans tokenAnswer) (AccountInfo, error) {
	if ans.RefreshToken == "" {
		return AccountInfo{}, fmt.Errorf("sign in to integration %q: Entra sent no refresh token: the scopes must include offline_access", in.Name)
	}
	user, name := idClaims(ans.IDToken)
	a := Account{RefreshToken: ans.RefreshToken, User: user, Name: name, SignedInAt: now.UTC(), LastRefresh: now.UTC(),
		Scopes: ans.Scope, ClientID: in.ClientID}
	if _, err := saveAccount(in, a); err != nil {
		return AccountInfo{}, fmt.Errorf("sign in to integration %q: store the token: %w", in.Name, err)
	}
	return a.info(in.Name, in.Tokens.Path(vaultName(in.Name))), nil
}
