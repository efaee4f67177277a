package web

import (
	"regexp"
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// roomAdvice says what to do about the calendar sync status of one room or of several rooms
// failing the same way (detail is the first room's), and gives the commands that check or fix
// it where there are some. The advice follows the error, not only the status: auth_failed is
// a sign-in failure, a missing permission or a token Graph rejected. clientID is the
// integration's app id ("" when unknown).
func roomAdvice(status, detail string, mailboxes []string, integration, clientID string) (advice, command string) {
	app := "<client_id>"
	if clientID != "" {
		app = clientID
	}
	these := "this mailbox"
	if len(mailboxes) > 1 {
		these = "these mailboxes"
	}
	switch status {
	case store.RoomPending:
		return "Waiting for its first sync.", ""
	case store.RoomThrottled:
		return "Microsoft Graph is throttling requests for " + these + ". otj-edge waits as long as Graph asks " +
			"(Retry-After) and catches up by itself; the room keeps showing its cached meetings.", ""
	case store.RoomPolicyDenied:
		// Microsoft: "Don't create new App Access Policies" (README "Set up Microsoft 365 for otj-edge"). RBAC
		// for Applications first; the old policy's check only for tenants that still have one.
		return "Exchange Online does not let the app registration read " + these + ": it is outside the app's RBAC for " +
				"Applications scope, or outside an older application access policy. Microsoft says not to create new " +
				"application access policies: grant the app the \"Application Calendars.Read\" role on a scope that " +
				"includes the rooms (Exchange Online PowerShell, after Connect-ExchangeOnline; -ObjectId is the Object ID " +
				"of the Enterprise application, not of the app registration). If the app already has a scope, make the " +
				"room match its filter instead (Get-ManagementScope shows it). Changes can take an hour or more to apply. " +
				"The last lines check the result; the access-policy check applies only if the tenant still has one for this app.",
			strings.Join([]string{
				"New-ServicePrincipal -AppId " + app + " -ObjectId <enterprise-app-object-id> -DisplayName otj-edge",
				`New-ManagementScope -Name "otj-edge rooms" -RecipientRestrictionFilter "RecipientTypeDetails -eq 'RoomMailbox'"`,
				`New-ManagementRoleAssignment -App ` + app + ` -Role "Application Calendars.Read" -CustomResourceScope "otj-edge rooms"`,
				eachRoom(mailboxes, "Test-ServicePrincipalAuthorization -Identity "+app+" -Resource ", ""),
				eachRoom(mailboxes, "Test-ApplicationAccessPolicy -Identity ", " -AppId "+app),
			}, "\n")
	case store.RoomNotFound:
		return "Exchange Online has no mailbox with this address. Check the endpoint's room address in the config " +
			"and that the room mailbox exists:", eachRoom(mailboxes, "Get-Mailbox -Identity ", "")
	case store.RoomNotRESTEnabled:
		return "The mailbox cannot be read through Microsoft Graph: it is on-premises, inactive, soft-deleted or " +
				"has no Exchange Online licence. Check:",
			eachRoom(mailboxes, "Get-Mailbox -Identity ", " | Format-List RecipientTypeDetails,IsInactiveMailbox,WhenSoftDeleted")
	case store.RoomAuthFailed:
		in := "its integration"
		if integration != "" {
			in = "integration " + integration
		}
		switch {
		case strings.HasPrefix(detail, "Graph denied access"):
			return "otj-edge signs in, but Graph refuses to read calendars: the app registration of " + in + " has no " +
				"right to read them. Assign it the Exchange role \"Application Calendars.Read\" on a scope of the rooms " +
				"(RBAC for Applications; see the policy_denied advice for the commands). The tenant-wide Calendars.Read " +
				"application permission with admin consent also works, but then the app may read every mailbox of the tenant, " +
				"whatever the scope says.", ""
		case strings.HasPrefix(detail, "Graph rejected the access token"):
			return "Graph does not accept the tokens of " + in + ": token_url and graph_url must be in the same cloud " +
				"(Global, GCC High, DoD or China), and the app needs admin consent. Correct the config, then apply it with:", "otj-edge reload"
		}
		return "otj-edge could not sign in to Microsoft 365 with " + in + " (the detail says what the token endpoint " +
			"answered). Correct client_id, client_secret (or client_certificate_file) or token_url in the config, then apply it with:", "otj-edge reload"
	case store.RoomTransient:
		switch {
		case strings.HasPrefix(detail, "token endpoint: no answer"):
			return "This box gets no answer from the Microsoft 365 token endpoint: check DNS, the proxy (HTTPS_PROXY) and the " +
				"firewall for token_url's host. otj-edge retries with backoff; the rooms keep showing their cached meetings.", ""
		case strings.HasPrefix(detail, "token endpoint:"):
			return "Microsoft 365 sign-in (the token endpoint) is failing for now. otj-edge retries with backoff; the rooms " +
				"keep showing their cached meetings. If it lasts, check Microsoft 365 service health.", ""
		case strings.HasPrefix(detail, "Graph is unavailable"):
			return "Microsoft Graph answers with a server error: an outage on Microsoft's side, or a proxy in between. " +
				"otj-edge retries with backoff; the rooms keep showing their cached meetings. If it lasts, check Microsoft 365 " +
				"service health and any proxy between this box and graph_url.", ""
		case strings.HasPrefix(detail, "cannot reach Graph"):
			return "This box cannot reach Microsoft Graph: check DNS, the proxy and the firewall for graph_url's host. " +
				"otj-edge retries with backoff; the rooms keep showing their cached meetings.", ""
		}
		return "A temporary error (network, or Microsoft 365 unavailable). otj-edge retries with backoff; the room " +
			"keeps showing its cached meetings.", ""
	}
	return "", ""
}

// eachRoom is a PowerShell line for one room, or one pipeline over several.
func eachRoom(mailboxes []string, before, after string) string {
	if len(mailboxes) == 1 {
		return before + psArg(mailboxes[0]) + after
	}
	quoted := make([]string, len(mailboxes))
	for i, m := range mailboxes {
		quoted[i] = "'" + strings.ReplaceAll(m, "'", "''") + "'"
	}
	return strings.Join(quoted, ",") + " | ForEach-Object { " + before + "$_" + after + " }"
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9._%+@-]+$`)

// psArg quotes a PowerShell argument when it needs it.
func psArg(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Endpoint causes: what an endpoint's state and detail mean, for advice and for grouping
// endpoints that fail the same way.
const (
	causeUnreachable  = "unreachable"
	causeSessionLimit = "session limit (HTTP 503)"
	causeRestarting   = "restarting (HTTP 502)"
	causeUntrusted    = "certificate not trusted"
	causeLogin        = "login refused"
	causeCalendarPass = "wrong calendar password"
	causeCertChanged  = "certificate changed"
	causeUnsupported  = "cannot take bookings"
	causeNotPolling   = "stopped polling"
	causeForeign      = "another system pushes bookings"
	causeNotAdmin     = "user is not Admin"
	causeMissing      = "bookings missing on the codec"
	causeLostJoin     = "some meetings get no Join button"
	causeDegraded     = "degraded"
	causeWaiting      = "waiting for the room's first sync"
)

// EndpointAdviser is an endpoint type's own reading of its endpoints' states: the driver's
// package knows its wording and what an operator does about it (a cloud device's "down" is
// not a network cable). The agent registers one per type that needs it from its endpoint
// table (agent/endpoints_<type>.go), so a new endpoint type needs no edit here; a type without
// one gets the readings below, written for devices on the LAN (device/cisco, device/poly).
type EndpointAdviser struct {
	// Cause names what is wrong in a few words from the state and detail ("" when nothing
	// is, or to fall back to the readings below). Endpoints with the same cause are grouped.
	Cause func(state, detail string) string
	// Advice says what to do about a cause, for the endpoints named (command: one line each,
	// or ""); level is health.Error or health.Warning. An empty advice falls back too.
	Advice func(cause string, names []string) (level, advice, command string)
}

// advisers are the registered endpoint types' advisers (written at init, read after).
var advisers = map[string]EndpointAdviser{}

// RegisterEndpointAdviser sets the adviser of endpoint type typ (from an init function).
func RegisterEndpointAdviser(typ string, a EndpointAdviser) {
	if a.Cause == nil || a.Advice == nil {
		panic("web: the adviser of endpoint type " + typ + " needs Cause and Advice")
	}
	advisers[typ] = a
}

// endpointCause names what is wrong with an endpoint in a few words, from its type, state
// and detail (the type's adviser, else the LAN drivers' wording: device/cisco, device/poly);
// "" when nothing is.
func endpointCause(typ, state, detail string) string {
	if a, ok := advisers[typ]; ok {
		if c := a.Cause(state, detail); c != "" {
			return c
		}
	}
	switch state {
	case store.EndpointDown:
		switch {
		case strings.Contains(detail, "HTTP 503"):
			return causeSessionLimit
		case strings.Contains(detail, "HTTP 502"):
			return causeRestarting
		case strings.Contains(detail, "not trusted by ca_file"):
			return causeUntrusted
		}
		return causeUnreachable
	case store.EndpointAuthFailed:
		if typ == "poly" {
			return causeCalendarPass
		}
		return causeLogin
	case store.EndpointCertChanged:
		return causeCertChanged
	case store.EndpointUnsupported:
		return causeUnsupported
	case store.EndpointNotPolling:
		return causeNotPolling
	case store.EndpointWaiting:
		return causeWaiting
	case store.EndpointDegraded:
		switch {
		case strings.Contains(detail, "another system pushes"):
			return causeForeign
		case strings.Contains(detail, "is not an Admin"):
			return causeNotAdmin
		case strings.Contains(detail, "bookings pushed (missing"):
			return causeMissing
		case strings.Contains(detail, "get no Join button"):
			return causeLostJoin
		}
		return causeDegraded
	}
	return ""
}

// endpointAdvice says what to do about an endpoint's cause, for its device type; command fixes
// it for the endpoints named (one line each) when there is a command.
func endpointAdvice(typ, cause string, names []string) (level, advice, command string) {
	if a, ok := advisers[typ]; ok {
		if level, advice, command := a.Advice(cause, names); advice != "" {
			return level, advice, command
		}
	}
	each := func(prefix string) string {
		lines := make([]string, len(names))
		for i, n := range names {
			lines[i] = prefix + n
		}
		return strings.Join(lines, "\n")
	}
	switch cause {
	case causeUnreachable:
		return health.Error, "Check that the device is powered and on the network, and that this box can reach its address " +
			"(firewall, VLAN).", ""
	case causeSessionLimit:
		// README "Cisco endpoints": 503 is the connection rate limit; RoomOS also caps sessions
		// (Security Session MaxTotalSessions 30, MaxSessionsPerUser 20 by default).
		return health.Error, "The codec answers but refuses new connections (HTTP 503): RoomOS allows a limited number of " +
			"sessions (Security Session MaxTotalSessions, at most 30; MaxSessionsPerUser, 20 by default) and limits how fast " +
			"connections come. Another integration, control system or open web sessions may hold them: close those or sign " +
			"them out on the codec, or restart the codec. otj-edge tries again every 30 to 60 seconds.", ""
	case causeRestarting:
		return health.Warning, "The codec is restarting (its web server answers 502). otj-edge reconnects when it is back; " +
			"if it lasts, check the codec.", ""
	case causeUntrusted:
		return health.Error, "The codec's certificate is not signed by the CA in the endpoint's ca_file: check ca_file, or " +
			"the certificate installed on the codec.", ""
	case causeLogin:
		return health.Error, "The codec refused the username or password in the config. Codecs lock an account after " +
			"repeated failures, so otj-edge tries at most once every 5 minutes. If the config is wrong, correct it and apply " +
			"it with otj-edge reload; if you fixed the account on the codec, make one attempt now:", each("otj-edge endpoints retry ")
	case causeWaiting:
		return health.Warning, "otj-edge pushes nothing to this codec until its room's calendar has synced from this " +
			"store, so the codec keeps the bookings it has. See the room's sync status for why it has not synced yet.", ""
	case causeCalendarPass:
		return health.Error, "The Poly endpoint signs in to otj-edge's calendar service with a password that differs from " +
			"calendar_password for its calendar_username. Set the same password in the endpoint's calendaring (Exchange) " +
			"settings, or change the config and apply it with otj-edge reload. Until then the endpoint gets no calendar " +
			"updates; it keeps polling by itself, so nothing needs a retry.", ""
	case causeCertChanged:
		return health.Error, "The device presented a certificate that differs from the pinned one, so otj-edge does not " +
			"talk to it. If the device was replaced or its certificate renewed, accept the new one:", each("otj-edge endpoints trust ")
	case causeUnsupported:
		return health.Error, "The device's software or mode does not accept bookings from otj-edge (the detail says why).", ""
	case causeNotPolling:
		return health.Warning, "The endpoint no longer asks for its calendar. Check that it is on, and its calendaring " +
			"settings (server address, calendar username and password) and that it can reach this box.", ""
	case causeForeign:
		return health.Warning, "Another system (for example TMS, Webex Hybrid Calendar, another One-Touch Join service or a " +
			"second otj-edge) also pushes bookings to this codec, so its Join buttons mix both. Take the codec out of the other " +
			"system: only one system should push bookings to a codec.", ""
	case causeNotAdmin:
		return health.Error, "The codec user in the config may not put bookings: give it the Admin role on the codec.", ""
	case causeMissing:
		return health.Warning, "The codec dropped some of the bookings pushed (the detail names them). otj-edge pushes again; " +
			"if it lasts, check the codec's booking limits and software.", ""
	case causeLostJoin:
		return health.Warning, "The codec's software cannot show a Join button for some meetings (the detail says why); " +
			"newer RoomOS versions can.", ""
	case causeDegraded:
		return health.Warning, "", ""
	}
	return health.Warning, "", ""
}

// endpointAlarms lists what about an endpoint needs attention: its state with advice for its
// type and error, and its health item when the running agent reports one that is not ok and
// says something else.
func endpointAlarms(e store.EndpointState, item *health.Item) []Alarm {
	var out []Alarm
	if cause := endpointCause(e.Type, e.State, e.Detail); cause != "" {
		level, advice, command := endpointAdvice(e.Type, cause, []string{e.Name})
		msg := cause
		switch {
		case strings.HasPrefix(e.Detail, cause):
			msg = e.Detail
		case e.Detail != "":
			msg += ": " + e.Detail
		}
		out = append(out, Alarm{Level: level, Message: msg, Advice: advice, Command: command})
	}
	if item != nil && item.Level != health.OK && item.Message != "" && !strings.Contains(e.Detail, item.Message) {
		already := false
		for _, a := range out {
			if strings.Contains(a.Message, item.Message) {
				already = true
			}
		}
		if !already {
			out = append(out, Alarm{Level: item.Level, Message: item.Message})
		}
	}
	if out == nil {
		out = []Alarm{}
	}
	return out
}
