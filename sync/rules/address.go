package rules

import (
	"fmt"
	"strings"
)

// What every rule's result must be: a dial string an endpoint accepts (badNumber) and the
// platform it belongs to, for the panel's icon (platformOf).

// Longest dial strings we hand to endpoints: SIP URIs and H.323 aliases are short; join URLs
// of WebRTC meetings are a few hundred characters.
const (
	maxAddressLen = 255
	maxJoinURLLen = 2048
)

// badNumber says what makes n unusable as a dial string ("" when nothing).
func badNumber(n string) string {
	limit := maxAddressLen
	if _, _, ok := splitURL(n); ok {
		limit = maxJoinURLLen
	}
	if len(n) > limit {
		return fmt.Sprintf("the address is longer than %d characters", limit)
	}
	for i := 0; i < len(n); i++ {
		if n[i] <= ' ' || n[i] == 0x7f {
			return "the address contains white space or control characters"
		}
	}
	return ""
}

// platformOf names the platform an address belongs to, for the panel's icon.
func platformOf(n string) string {
	if host, rest, ok := splitURL(n); ok {
		switch {
		case isTeamsJoin(span{host: host, rest: rest}):
			return "MicrosoftTeams"
		case host == "meet.google.com":
			return "GoogleMeet"
		case isZoomHost(host):
			return "Zoom"
		case webexSite(host) != "":
			return "Webex"
		}
		return "Other"
	}
	at := strings.LastIndexByte(n, '@')
	if at < 0 {
		return "Other"
	}
	dom := lowerASCII(n[at+1:])
	if k := strings.IndexAny(dom, ";?:>"); k >= 0 {
		dom = dom[:k]
	}
	switch {
	case isZoomSIPDomain(dom):
		return "Zoom"
	case dom == "m.webex.com", hostIs(dom, "plcm.vc"), dom == "teams.bjn.vc":
		return "MicrosoftTeams"
	case webexSite(dom) != "", dom == "webex.com":
		return "Webex"
	}
	return "Other"
}
