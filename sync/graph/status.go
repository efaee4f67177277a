package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/otj-edge/otj-edge/store"
)

// failure is what a failed request means for a room: its status, one actionable line for the
// operator, and when to try again.
type failure struct {
	status     string        // store.Room*
	detail     string        // one line, says what to do; never a secret
	code       string        // AADSTS…, Graph's error code or the HTTP status, for telemetry
	retryIn    time.Duration // 0: exponential backoff
	retryAfter time.Duration // Graph's Retry-After (-1: none)
	token      bool          // the token endpoint failed: every room of the integration is affected
	resync     bool          // 410: the delta state is gone; start a full round now
	badToken   bool          // Graph rejected the access token (401)
	gen        int           // the client generation the request used
}

// Retry intervals for conditions a person has to fix.
const (
	retryPolicy   = 30 * time.Minute // access policy changes take an hour or more to apply
	retryNotFound = time.Hour
	retryAuth     = 15 * time.Minute
)

// classify maps a Graph answer to a failure (README "Calendar sync (Microsoft Graph)").
func classify(r result, mailbox, clientID string) failure {
	if r.err != nil {
		return classifyError(r.err)
	}
	f := failure{code: r.code, retryAfter: r.retryAfter, gen: r.gen}
	if f.code == "" {
		f.code = strconv.Itoa(r.status)
	}
	msg := strings.TrimSpace(r.message)
	switch {
	case r.status == http.StatusGone || r.code == "SyncStateNotFound":
		f.resync = true
		f.status, f.detail = store.RoomOK, "delta state expired (410 SyncStateNotFound): resyncing the room in full"
	case r.status == http.StatusTooManyRequests:
		f.status = store.RoomThrottled
		f.detail = "Graph is throttling requests for this mailbox (" + strings.TrimSpace("429 "+r.code) + ")"
		if r.retryAfter >= 0 {
			f.detail += fmt.Sprintf("; next try in %s as Retry-After asks", r.retryAfter.Round(time.Second))
		}
	case r.status == http.StatusForbidden && r.account != "":
		return delegatedDenied(f, mailbox, r.account, msg)
	case r.status == http.StatusForbidden && strings.Contains(msg, "Access to OData is disabled"):
		f.status, f.retryIn = store.RoomPolicyDenied, retryPolicy
		app := firstNonEmpty(clientID, "<client_id>")
		f.detail = fmt.Sprintf("Exchange Online does not let the app read %s (403 %s): the mailbox is outside the app's RBAC for Applications "+
			"scope or its application access policy; check with Test-ServicePrincipalAuthorization -Identity %s -Resource %s "+
			"(RBAC for Applications), or Test-ApplicationAccessPolicy -Identity %s -AppId %s (an older access policy)",
			mailbox, codeText(r.code, msg), app, mailbox, mailbox, app)
	case r.status == http.StatusForbidden:
		f.status, f.retryIn = store.RoomAuthFailed, retryAuth
		f.detail = "Graph denied access (403 " + codeText(r.code, msg) + "): the app may not read calendars: assign it the Exchange " +
			"role \"Application Calendars.Read\" on a scope of the rooms (RBAC for Applications); the tenant-wide Calendars.Read " +
			"application permission with admin consent works too, but lets the app read every mailbox"
	case r.status == http.StatusNotFound && r.code == "MailboxNotEnabledForRESTAPI":
		f.status, f.retryIn = store.RoomNotRESTEnabled, retryNotFound
		f.detail = "the mailbox is not in Exchange Online (on-premises, inactive, soft-deleted or unlicensed), so Graph cannot read it (MailboxNotEnabledForRESTAPI)"
	case r.status == http.StatusNotFound && r.code == "ErrorInvalidUser":
		f.status, f.retryIn = store.RoomNotFound, retryNotFound
		f.detail = "there is no mailbox " + mailbox + " in the tenant (ErrorInvalidUser): check the room address in the config"
	case r.status == http.StatusNotFound && r.code == "ErrorItemNotFound":
		f.resync = true
		f.status, f.detail = store.RoomOK, "Graph no longer knows an item of this round (ErrorItemNotFound): resyncing the room in full"
	case r.status == http.StatusUnauthorized:
		f.status, f.retryIn, f.badToken = store.RoomAuthFailed, retryAuth, true
		f.detail = "Graph rejected the access token (401 " + codeText(r.code, msg) + "): token_url and graph_url must be in the same cloud, and the app needs admin consent"
	case r.status >= 500:
		f.status = store.RoomTransient
		f.detail = strings.TrimSpace(fmt.Sprintf("Graph is unavailable (%d %s", r.status, r.code)) + "); retrying"
	case r.status == http.StatusBadRequest:
		f.status, f.retryIn = store.RoomTransient, 5*time.Minute
		f.detail = "Graph refused the request (400 " + codeText(r.code, msg) + ")"
	default:
		f.status = store.RoomTransient
		f.detail = strings.TrimSpace(fmt.Sprintf("Graph answered %d %s", r.status, codeText(r.code, msg)))
	}
	return f
}

// tokenError is a token failure already read (see errorResult).
type tokenError struct {
	cause error
	f     failure
}

func (e *tokenError) Error() string { return e.f.detail }
func (e *tokenError) Unwrap() error { return e.cause }

// classifyError maps a request that got no Graph answer.
func classifyError(err error) failure {
	var authErr *azidentity.AuthenticationFailedError
	var tokErr *tokenError
	switch {
	case errors.As(err, &tokErr):
		return tokErr.f
	case errors.As(err, &authErr):
		return tokenFailure(authErr)
	case errors.Is(err, errBudget):
		return failure{status: "", detail: err.Error(), code: "budget", retryAfter: -1}
	case errors.Is(err, errNoToken):
		return failure{status: store.RoomAuthFailed, detail: err.Error(), code: "no_token", retryIn: retryAuth, retryAfter: -1}
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) || strings.Contains(err.Error(), "not valid JSON") {
		return failure{status: store.RoomTransient, detail: "Graph sent a body that is not valid JSON; retrying", code: "garbage", retryAfter: -1}
	}
	return failure{status: store.RoomTransient, detail: "cannot reach Graph: " + oneLine(err.Error()), code: "network", retryAfter: -1}
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// tokenFailure reads Entra's answer (error, error_codes) and says what went wrong and what to
// fix. The detail always carries the cause as the token endpoint gave it: "token endpoint: HTTP
// 401: AADSTS7000215: Invalid client secret provided… — <what to do>", or, without an answer,
// the network error. secrets are values that must never show (the client secret): they are
// cut out of whatever the endpoint sent back.
func tokenFailure(e *azidentity.AuthenticationFailedError, secrets ...string) failure {
	f := failure{status: store.RoomAuthFailed, token: true, retryAfter: -1}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	status := 0
	var raw []byte
	contentType := ""
	if e.RawResponse != nil {
		status = e.RawResponse.StatusCode
		contentType = e.RawResponse.Header.Get("Content-Type")
		if b, err := runtime.Payload(e.RawResponse); err == nil { // cached: readable again
			raw = b
			_ = json.Unmarshal(b, &body)
		}
	}
	code := 0
	if len(body.Codes) > 0 {
		code = body.Codes[0]
	} else if m := aadstsRE.FindStringSubmatch(body.Description); m != nil {
		code, _ = strconv.Atoi(m[1])
	} else if m := aadstsRE.FindStringSubmatch(e.Error()); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	if code != 0 {
		f.code = fmt.Sprintf("AADSTS%d", code)
	} else if status != 0 {
		f.code = strconv.Itoa(status)
	} else {
		f.code = "token_endpoint"
	}
	var cause string
	if status == 0 {
		cause = "no answer: " + noAnswerCause(e)
	} else {
		cause = fmt.Sprintf("HTTP %d: %s", status, bodySummary(body.Error, body.Description, raw, contentType))
	}
	f.detail = scrub("token endpoint: "+cause+" — "+aadstsAdvice(code, status, body.Error), secrets)
	if code == 90024 || code == 90006 || status >= 500 || status == 0 {
		f.status, f.retryIn = store.RoomTransient, 0
	}
	return f
}

// bodySummary is one short line of what the token endpoint answered: Entra's description
// (its first line, without the trace and correlation ids), else its error name, else the
// body's text (HTML tags dropped), else "empty body".
func bodySummary(errName, description string, raw []byte, contentType string) string {
	if d := firstLine(strings.ReplaceAll(description, "\r\n", "\n")); strings.TrimSpace(d) != "" {
		return clipLine(d, 240)
	}
	if errName != "" {
		return errName
	}
	text := string(raw)
	if strings.Contains(contentType, "html") || strings.HasPrefix(strings.TrimSpace(text), "<") {
		text = htmlTagRE.ReplaceAllString(text, " ")
	}
	if text = strings.TrimSpace(text); text == "" {
		return "empty body"
	}
	if ct, _, _ := strings.Cut(contentType, ";"); ct != "" {
		return clipLine(text, 120) + " (" + strings.TrimSpace(ct) + ")"
	}
	return clipLine(text, 120)
}

var htmlTagRE = regexp.MustCompile(`(?s)<(style|head|script)[^>]*>.*?</(style|head|script)>|<[^>]+>`)

// noAnswerCause is why the token endpoint gave no answer, from azidentity's message without
// its credential-type prefix and troubleshooting link, on one line: the wrapped network error
// is on the message's second line, so the first alone ends in a bare colon.
func noAnswerCause(e error) string {
	msg := e.Error()
	if i := strings.Index(msg, "To troubleshoot, visit"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	for _, p := range []string{"ClientSecretCredential: ", "ClientCertificateCredential: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	msg = strings.TrimSpace(strings.TrimSuffix(msg, ":"))
	if msg == "" {
		return "the request failed without a reason"
	}
	return clipLine(msg, 300)
}

// scrub cuts secret values out of s.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// clipLine squeezes s onto one line of at most n runes.
func clipLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// aadstsAdvice is the plain advice for an Entra error code.
func aadstsAdvice(code, status int, errName string) string {
	switch code {
	case 7000215:
		return "the client secret value is wrong. Enter the secret's Value from the app registration's Certificates & secrets page, " +
			"not its Secret ID (a GUID); a lost value cannot be shown again, so create a new secret"
	case 7000222:
		return "the client secret has expired: create a new client secret in the app registration and put its Value in client_secret"
	case 700016, 700011:
		return "the application (client_id) is not registered in this tenant: check client_id, and that token_url names the tenant and cloud where the app is registered"
	case 90002:
		return "the tenant in token_url does not exist in this cloud: check the tenant ID or domain in token_url, and that it is the cloud where the app is registered"
	case 90038, 900432, 900382:
		return "token_url and graph_url are in different clouds: use the token endpoint and Graph root of the same cloud (Global, GCC High, DoD or China)"
	case 70011, 1002012:
		return "Entra refused the scope: graph_url must be the Graph root of the cloud the app is registered in"
	case 50001, 500011:
		return "Microsoft Graph is not available to this app in this tenant: check graph_url"
	case 53003:
		return "a Conditional Access policy blocks the app: exclude this workload identity from the policy or allow the site's address"
	case 700027:
		return "Entra does not accept the certificate: upload the certificate of client_certificate_file (its public part, a .cer or .pem) " +
			"to the app registration's Certificates & secrets page, and check that its thumbprint there matches (otj-edge check shows it)"
	case 700024:
		return "Entra says the certificate assertion is outside its valid time: check the site's clock (otj-edge doctor)"
	case 700021:
		return "the certificate assertion names another application: check client_id"
	case 7000218:
		return "no client secret was sent: set client_secret or client_secret_file"
	case 90024, 90006:
		return "Entra is temporarily unavailable; retrying"
	}
	switch {
	case status == 0:
		return "this box cannot reach the token endpoint: check DNS, the proxy (HTTPS_PROXY) and the firewall for token_url's host; retrying"
	case status >= 500:
		return "the token endpoint is failing; retrying"
	case errName == "invalid_client":
		return "Entra rejected the client credentials: check client_id and the client secret value or certificate"
	}
	return "check client_id, the client secret or certificate, and token_url"
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// codeText is Graph's error code and message as "code: message", either alone when the other
// is missing (never a dangling colon).
func codeText(code, msg string) string {
	msg = oneLine(msg)
	switch {
	case code == "":
		return msg
	case msg == "":
		return code
	}
	return code + ": " + msg
}

// oneLine squeezes a message onto one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
