package web

import (
	"regexp"
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// roomAdvice says what to do about a room's sync status, and gives the command that checks or
// fixes it where there is one. clientID is the integration's app id ("" when unknown).
func roomAdvice(status, mailbox, integration, clientID string) (advice, command string) {
	id := psArg(mailbox)
	switch status {
	case store.RoomPending:
		return "Waiting for its first sync.", ""
	case store.RoomThrottled:
		return "Microsoft Graph is throttling requests for this mailbox. otj-edge waits as long as Graph asks " +
			"(Retry-After) and catches up by itself; the room keeps showing its cached meetings.", ""
	case store.RoomPolicyDenied:
		app := "<client_id>"
		if clientID != "" {
			app = clientID
		}
		return "The app registration may not read this mailbox: the application access policy does not include it. " +
				"Add the room to the mail-enabled security group the policy names (changes can take over an hour), then check:",
			"Test-ApplicationAccessPolicy -Identity " + id + " -AppId " + app
	case store.RoomNotFound:
		return "Exchange Online has no mailbox with this address. Check the endpoint's room address in the config " +
			"and that the room mailbox exists:", "Get-Mailbox -Identity " + id
	case store.RoomNotRESTEnabled:
		return "The mailbox cannot be read through Microsoft Graph: it is on-premises, inactive, soft-deleted or " +
				"has no Exchange Online licence. Check:",
			"Get-Mailbox -Identity " + id + " | Format-List RecipientTypeDetails,IsInactiveMailbox,WhenSoftDeleted"
	case store.RoomAuthFailed:
		in := "its integration"
		if integration != "" {
			in = "integration " + integration
		}
		return "otj-edge could not sign in to Microsoft 365 with " + in + " (the detail says why). Correct client_id, " +
			"client_secret (or client_certificate_file) or token_url in the config, then apply it with:", "otj-edge reload"
	case store.RoomTransient:
		return "A temporary error (network, or Microsoft 365 unavailable). otj-edge retries with backoff; the room " +
			"keeps showing its cached meetings.", ""
	}
	return "", ""
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9._%+@-]+$`)

// psArg quotes a PowerShell argument when it needs it.
func psArg(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// endpointAlarms lists what about an endpoint needs attention: its state, and its health item
// when the running agent reports one that is not ok.
func endpointAlarms(e store.EndpointState, item *health.Item) []Alarm {
	var out []Alarm
	add := func(level, msg, advice, command string) {
		if e.Detail != "" && e.Detail != msg {
			msg += ": " + e.Detail
		}
		out = append(out, Alarm{Level: level, Message: msg, Advice: advice, Command: command})
	}
	switch e.State {
	case store.EndpointDown:
		add(health.Error, "unreachable", "Check that the device is powered and on the network, and that this box can reach "+
			"its address (firewall, VLAN).", "")
	case store.EndpointAuthFailed:
		add(health.Error, "login refused", "The device refused the username or password in the config. Codecs lock an "+
			"account after repeated failures, so otj-edge tries at most once every 5 minutes. Correct the credentials, then:",
			"otj-edge reload")
	case store.EndpointCertChanged:
		add(health.Error, "certificate changed", "The device presented a certificate that differs from the pinned one, so "+
			"otj-edge does not talk to it. If the device was replaced or its certificate renewed, accept the new one:",
			"otj-edge endpoints trust "+e.Name)
	case store.EndpointUnsupported:
		add(health.Error, "cannot take bookings", "The device's software or mode does not accept bookings from otj-edge.", "")
	case store.EndpointNotPolling:
		add(health.Warning, "stopped polling", "The endpoint no longer asks for its calendar. Check its calendaring "+
			"settings (server address, calendar username and password) and that it can reach this box.", "")
	case store.EndpointDegraded:
		add(health.Warning, "degraded", "", "")
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
