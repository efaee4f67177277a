package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/otj-edge/otj-edge/store"
)

// The token endpoint as the delegated flows use it: plain form posts (no library hides the
// refresh token from us, so it can be sealed and rotated), and Entra's error JSON read into
// one line that says what to do.

// doer sends a request (*http.Client and azcore's policy.Transporter both do).
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// tokenAnswer is a successful token response.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
}

// entraAnswer is Entra's error answer (reference-error-codes).
type entraAnswer struct {
	Status      int    `json:"-"`
	Err         string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

func (e *entraAnswer) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, bodySummary(e.Err, e.Description, nil, ""))
}

// aadsts is the first AADSTS code of the answer (0: none).
func (e *entraAnswer) aadsts() int {
	if len(e.Codes) > 0 {
		return e.Codes[0]
	}
	if m := aadstsRE.FindStringSubmatch(e.Description); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// tokenEndpoint is the integration's v2 token endpoint.
func tokenEndpoint(in Integration) string {
	if in.TokenURL != "" {
		return in.TokenURL
	}
	return strings.TrimSuffix(in.AuthorityHost, "/") + "/" + in.Tenant + "/oauth2/v2.0/token"
}

// postForm posts form to u: the answer decoded into out on 200, an *entraAnswer on an Entra
// error, another error when there is no usable answer.
func postForm(ctx context.Context, client doer, u string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("the token endpoint's answer is not JSON: %w", err)
		}
		return nil
	}
	e := &entraAnswer{Status: resp.StatusCode}
	if json.Unmarshal(body, e) != nil || (e.Err == "" && e.Description == "") {
		e.Description = bodySummary("", "", body, resp.Header.Get("Content-Type"))
	}
	return e
}

// loginHint is what to run to sign in again.
func loginHint(integration string) string { return "run otj-edge auth login " + integration }

// signedOut is the failure of an integration nobody is signed in to (never, or after auth
// logout).
func signedOut(integration string) failure {
	return failure{status: store.RoomAuthFailed, token: true, code: "signed_out", retryAfter: -1, retryIn: retryAuth,
		detail: "signed out: " + loginHint(integration)}
}

// delegatedFailure says what a refused refresh means (ews-source.md §B1): invalid_grant is the
// end of the sign-in (password changed or reset, MFA now required, sessions revoked, 90 days
// unused), a Conditional Access block names what the admin must allow. secrets are cut out.
func delegatedFailure(integration, account string, err error, secrets ...string) failure {
	f := failure{status: store.RoomAuthFailed, token: true, retryAfter: -1, retryIn: retryAuth}
	e, ok := err.(*entraAnswer)
	if !ok {
		f.status, f.retryIn, f.code = store.RoomTransient, 0, "token_endpoint"
		f.detail = scrub("token endpoint: no answer: "+oneLine(err.Error())+" — "+aadstsAdvice(0, 0, ""), secrets)
		return f
	}
	code := e.aadsts()
	f.code = strconv.Itoa(e.Status)
	if code != 0 {
		f.code = fmt.Sprintf("AADSTS%d", code)
	}
	who := firstNonEmpty(account, "the service account")
	var advice string
	switch {
	case e.Status >= 500 || code == 90024 || code == 90006:
		f.status, f.retryIn = store.RoomTransient, 0
		advice = "the token endpoint is failing; retrying"
	case code == 53003 || code == 53000 || code == 53001 || code == 50105 || code == 530003:
		advice = conditionalAccessAdvice(code, who) + "; then " + loginHint(integration) + ". " + deviceCodeNote
	case e.Err == "invalid_grant" || code == 70008 || code == 50173 || code == 700082 || code == 50076 || code == 50079 || code == 65001:
		advice = "the sign-in of " + who + " has ended (password changed or reset, MFA now required, sessions revoked, or unused for 90 days): " +
			loginHint(integration) + ". " + deviceCodeNote
	case code == 7000218:
		advice = "the app registration does not allow public client flows: turn on Authentication → \"Allow public client flows\", or set client_secret (a confidential client)"
	default:
		advice = aadstsAdvice(code, e.Status, e.Err)
	}
	f.detail = scrub("token endpoint: "+e.Error()+" — "+advice, secrets)
	return f
}

// conditionalAccessAdvice names what the tenant admin must allow.
func conditionalAccessAdvice(code int, who string) string {
	switch code {
	case 50105:
		return "the app requires user assignment and " + who + " is not assigned: in Entra → Enterprise applications → the app → Users and groups, assign " + who
	case 53000, 53001:
		return "a Conditional Access policy requires a compliant or joined device, which this box is not: the tenant admin must exclude " + who + " from that policy"
	}
	return "a Conditional Access policy blocks the sign-in of " + who + ": the tenant admin must exclude " + who +
		" (or this site's named location) from the policy's \"Authentication flows: device code flow\" condition (AADSTS53003)"
}

// delegatedDenied is a 403 on a room read through the signed-in account: it has no delegate
// access to the room's calendar (delegated rounds follow no link, so the §B2 403 on nextLink
// is not what this is). The fix is one Exchange Online PowerShell line.
func delegatedDenied(f failure, mailbox, account, msg string) failure {
	user := account
	if user == "" || strings.Contains(user, " ") {
		user = "<service account>"
	}
	f.status, f.retryIn = store.RoomPolicyDenied, retryPolicy
	f.detail = fmt.Sprintf("%s cannot read the calendar of %s (403 %s): give it access with Add-MailboxFolderPermission -Identity %s:\\Calendar -User %s -AccessRights Reviewer "+
		"(Exchange Online PowerShell; Reviewer reads subjects and join links, LimitedDetails is not enough)",
		firstNonEmpty(account, "the signed-in account"), mailbox, codeText(f.code, msg), mailbox, user)
	return f
}
