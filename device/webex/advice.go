package webex

import (
	"strings"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

// What a Webex endpoint's state means and what an operator does about it, for the status page,
// the problems list, `otj-edge doctor` and MQTT (the agent registers Cause and Advice as the
// type's adviser in agent/web). They read this package's own wording of the details (state.go,
// push.go, token.go, resolve.go), so the two change together: a Webex device is reached through
// Webex, never at an address on the LAN, so the advice is about Control Hub, the integration's
// scopes and its refresh token.

// Causes of a Webex endpoint's state, in a few words (endpoints with the same cause group).
const (
	CauseOffline      = "offline in Webex"
	CauseNoWebex      = "cannot reach Webex"
	CauseListRefused  = "Webex refuses to list the devices"
	CauseAuth         = "Webex authorisation refused"
	CauseNoXAPI       = "no xAPI permission (HTTP 403)"
	CauseNotFound     = "device not found in Webex"
	CauseAmbiguous    = "several devices match in Webex"
	CauseRefused      = "Webex refused the bookings"
	CauseMissing      = "bookings missing on the device"
	CauseLostJoin     = "some meetings get no Join button"
	CauseForeign      = "another system pushes bookings"
	CauseWaiting      = "waiting for the room's first sync"
	causeDegradedElse = "degraded"
)

// Cause names what is wrong with a Webex endpoint from its state and detail; "" when nothing.
func Cause(state, detail string) string {
	switch state {
	case store.EndpointAuthFailed:
		return CauseAuth
	case store.EndpointDown:
		switch {
		case strings.HasPrefix(detail, "offline in Webex"):
			return CauseOffline
		case strings.Contains(detail, "HTTP 403"):
			return CauseListRefused
		}
		return CauseNoWebex
	case store.EndpointWaiting:
		return CauseWaiting
	case store.EndpointDegraded:
		switch {
		case strings.HasPrefix(detail, "Webex refuses the xAPI command"):
			return CauseNoXAPI
		case strings.Contains(detail, "is not found in Webex"):
			return CauseNotFound
		case strings.Contains(detail, " in Webex ("):
			return CauseAmbiguous
		case strings.HasPrefix(detail, "Webex refused the bookings"):
			return CauseRefused
		case strings.Contains(detail, "another system pushes"):
			return CauseForeign
		case strings.Contains(detail, "bookings pushed (missing"):
			return CauseMissing
		case strings.Contains(detail, "get no Join button"):
			return CauseLostJoin
		}
		return causeDegradedElse
	case store.EndpointUnsupported:
		return CauseRefused
	}
	return ""
}

// Advice says what to do about a cause for the endpoints named: level (health.Error or
// health.Warning), the advice, and a command (one line per endpoint) when one helps.
func Advice(cause string, names []string) (level, advice, command string) {
	each := func(prefix string) string {
		lines := make([]string, len(names))
		for i, n := range names {
			lines[i] = prefix + n
		}
		return strings.Join(lines, "\n")
	}
	switch cause {
	case CauseOffline:
		return health.Error, "The device is offline in Webex: it is not connected to the Webex cloud, so Webex cannot give it " +
			"bookings. Check the device in Control Hub (Devices → the device → status): its power, its network and its " +
			"way out to Webex (firewall, proxy). otj-edge sends it nothing meanwhile and pushes its bookings as soon as Webex " +
			"shows it connected again (it looks every minute); nothing needs a retry.", ""
	case CauseNoWebex:
		return health.Error, "This box cannot read the device from Webex (the detail says what failed): check DNS, the proxy " +
			"(HTTPS_PROXY) and the firewall for the webex connection's api_url (webexapis.com), and Webex's status page. " +
			"otj-edge tries again every minute; the device keeps the bookings it has.", ""
	case CauseListRefused:
		return health.Error, "Webex refuses to list the devices to the integration (HTTP 403): it needs the scopes " +
			"spark-admin:devices_read and spark-admin:workspaces_read (or spark:devices_read), authorised by an admin of the " +
			"organisation. Add the scopes to the integration (developer.webex.com → My Apps), re-authorise it, put the new " +
			"refresh token into the webex connection's refresh_token and apply it with:", "otj-edge reload"
	case CauseAuth:
		return health.Error, "Webex no longer accepts the integration's refresh token (revoked, expired after 90 days unused, " +
			"or the integration's secret changed). Re-authorise the integration: open its OAuth authorization URL " +
			"(developer.webex.com → My Apps → the integration) signed in as an admin who may use the devices' xAPI, accept " +
			"the scopes, exchange the code for tokens, put the new refresh token into the webex connection's refresh_token " +
			"(or refresh_token_file), then apply it with otj-edge reload. otj-edge does not try the refused token again by " +
			"itself; after a re-authorisation written another way, one attempt now:", each("otj-edge endpoints retry ")
	case CauseNoXAPI:
		return health.Error, "Webex refuses otj-edge's xAPI commands on this device (HTTP 403). The integration needs the " +
			"scope spark:xapi_commands (re-authorise it after adding the scope, and put the new refresh token into the webex " +
			"connection), and the device must give it full xAPI access (xapi:all): in Control Hub, the device's workspace → " +
			"API access, or an authorising admin whose role covers the device. otj-edge tries again every 5 minutes; once " +
			"fixed, one attempt now:", each("otj-edge endpoints retry ")
	case CauseNotFound:
		return health.Error, "Webex does not know this device (any more): it was removed from Control Hub, re-registered " +
			"under a new id, or moved to another workspace or organisation. Find it in Control Hub (Devices) and correct " +
			"the endpoint's device_id, workspace or device_name (the detail names the devices Webex has), then apply it with " +
			"otj-edge reload. otj-edge looks the device up again every minute, so a device re-added under the same workspace " +
			"or name recovers by itself.", ""
	case CauseAmbiguous:
		return health.Error, "Several devices or workspaces in Webex match the endpoint's workspace or device_name (the " +
			"detail names them): name the device by its id (device_id) instead, then apply it with otj-edge reload.", ""
	case CauseRefused:
		return health.Error, "Webex refused the bookings (the detail quotes its answer): usually the device's software " +
			"cannot take them. Check the device's software in Control Hub; otj-edge tries again every 5 minutes.", ""
	case CauseMissing:
		return health.Warning, "The device dropped some of the bookings pushed through Webex (the detail names them). " +
			"otj-edge pushes again; if it lasts, check the device's software in Control Hub.", ""
	case CauseLostJoin:
		return health.Warning, "The device's software cannot show a Join button for some meetings (the detail says why); " +
			"newer RoomOS versions can (Control Hub → Devices → software upgrade channel).", ""
	case CauseForeign:
		return health.Warning, "Another system (for example Webex Hybrid Calendar, TMS, another One-Touch Join service or a " +
			"second otj-edge) also pushes bookings to this device, so its Join buttons mix both. Take the device out of the " +
			"other system (for Hybrid Calendar: Control Hub → the workspace → Calendar): only one system should push bookings " +
			"to a device.", ""
	case CauseWaiting:
		return health.Warning, "otj-edge pushes nothing to this Webex device until its room's calendar has synced from this " +
			"store, so the device keeps the bookings it has. See the room's sync status for why it has not synced yet.", ""
	}
	return "", "", ""
}
