package rules

import (
	"fmt"
	"net/url"
	"strings"
)

// Microsoft Teams (README "Meeting processing rules"). A Teams invite has a join link and, when the
// organizer's tenant has Cloud Video Interop, a "join with a video conferencing device" block
// with the CVI provider's tenant key and a per-meeting Video ID. CVI gives a SIP address any
// codec can dial (and Poly, which has no WebRTC); the join link is for WebRTC-capable codecs.
// The labels are in the organizer's language, so the block is found from the tenant key
// address (a mailto: link in new invites), the provider's instruction link and the digits of
// the Video ID.

// isTeamsJoin reports whether a URL is a Teams meeting join link.
func isTeamsJoin(s span) bool {
	h := s.host
	if !(hostIs(h, "teams.microsoft.com") || hostIs(h, "teams.live.com") || hostIs(h, "teams.microsoft.us") || hostIs(h, "teams.microsoftonline.cn")) {
		return false
	}
	return hasPrefixFold(s.rest, "/l/meetup-join/") || hasPrefixFold(s.rest, "/meet/")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// sameTeamsMeeting compares two join links by their meeting part (the thread id or short
// meeting id), ignoring escaping and query.
func sameTeamsMeeting(a, b string) bool {
	key := func(u string) string {
		if q := strings.IndexAny(u, "?#"); q >= 0 {
			u = u[:q]
		}
		if k := strings.Index(u, "://"); k >= 0 {
			u = u[k+3:]
		}
		if dec, err := url.PathUnescape(u); err == nil {
			u = dec
		}
		return strings.ToLower(strings.TrimSuffix(u, "/"))
	}
	return key(a) == key(b)
}

// cvi is a CVI block's direct-dial address.
type cvi struct {
	number   string
	domain   string
	provider string // "Cisco Webex", "Poly RealConnect", …; "" when the tenant key's provider is unknown
	key      string // the tenant key (IVR address), when printed
	videoID  string
	pos      int
}

// cviProvider says how a provider's tenant key and Video ID make the direct-dial address.
func cviProvider(domain, local string) (name string, idFirst bool, ok bool) {
	switch {
	case domain == "m.webex.com":
		return "Cisco Webex", true, true // <VideoID>.<subdomain>@m.webex.com
	case hostIs(domain, "plcm.vc"):
		return "Poly RealConnect", false, true // <tenant>.<VideoID>@t.plcm.vc
	case domain == "teams.bjn.vc":
		return "BlueJeans Gateway", false, true // <tenant>.<VideoID>@teams.bjn.vc
	case strings.EqualFold(local, "teams"):
		return "Pexip", true, true // teams@<domain> is Pexip's IVR; direct dial <VideoID>@<domain>
	}
	return "", false, false
}

func buildCVI(provider string, idFirst bool, local, domain, id string) string {
	switch {
	case provider == "Pexip" || provider == "Pexip Service" || provider == "Pexip Infinity" || provider == "":
		return id + "@" + domain
	case idFirst:
		return id + "." + local + "@" + domain
	default:
		return local + "." + id + "@" + domain
	}
}

// findCVI looks for a CVI block in text[from:to]: first the provider's instruction link
// (which carries every part of the address), then a tenant key followed by a Video ID.
func findCVI(ctx *evalCtx, from, to int, ruleDomain string) (cvi, bool) {
	d := ctx.d
	var keyAddr *addr
	var keyID digitRun
	for i := range d.addrs {
		a := &d.addrs[i]
		if a.start < from || a.start >= to || a.inURL || a.scheme == "sip" || a.scheme == "sips" || a.scheme == "h323" {
			continue
		}
		if ctx.isPerson(d.address(*a)) {
			continue // a person's mail address followed by a phone number is not a tenant key
		}
		id, ok := d.idRun(a.end, min(a.end+200, to), 8, 11)
		if !ok {
			continue
		}
		dom := lowerASCII(d.domain(*a))
		if _, _, known := cviProvider(dom, d.local(*a)); !known && dom != ruleDomain {
			// Any address followed by an ID is only taken as a tenant key when nothing but
			// labels separate them.
			if strings.ContainsAny(d.text[a.end:id.start], "@<") || strings.Count(d.text[a.end:id.start], "\n") > 1 {
				continue
			}
		}
		keyAddr, keyID = a, id
		break
	}
	// Instruction links.
	for _, s := range d.urls {
		if s.start < from || s.start >= to {
			continue
		}
		u := d.url(s)
		switch {
		case hostIs(s.host, "webex.com") && hasPrefixFold(s.rest, "/msteams"):
			id, key, dom := queryValue(u, "confid"), queryValue(u, "tenantkey"), lowerASCII(queryValue(u, "domain"))
			if dom == "" {
				dom = "m.webex.com"
			}
			if isDigits(id) && validLocal(key) && checkDomain(dom) == "" {
				return cvi{number: id + "." + key + "@" + dom, domain: dom, provider: "Cisco Webex", key: key + "@" + dom, videoID: id, pos: s.start}, true
			}
		case hostIs(s.host, "plcm.vc") && hasPrefixFold(s.rest, "/teams"):
			key, id := queryValue(u, "key"), queryValue(u, "conf")
			dom := "t.plcm.vc"
			if keyAddr != nil && hostIs(lowerASCII(d.domain(*keyAddr)), "plcm.vc") {
				dom = lowerASCII(d.domain(*keyAddr))
			}
			if isDigits(id) && validLocal(key) {
				return cvi{number: key + "." + id + "@" + dom, domain: dom, provider: "Poly RealConnect", key: key + "@" + dom, videoID: id, pos: s.start}, true
			}
		case s.host == "pexip.me" && hasPrefixFold(s.rest, "/teams/"):
			parts := strings.Split(strings.Trim(s.rest[len("/teams/"):], "/"), "/")
			if len(parts) < 2 {
				continue
			}
			id := parts[len(parts)-1]
			if k := strings.IndexAny(id, "?#"); k >= 0 {
				id = id[:k]
			}
			dom, _ := url.PathUnescape(parts[0])
			// The tenant key's domain is authoritative (organizers edit the link text).
			if keyAddr != nil && strings.EqualFold(d.local(*keyAddr), "teams") {
				dom = d.domain(*keyAddr)
			}
			dom = lowerASCII(dom)
			if isDigits(id) && checkDomain(dom) == "" {
				c := cvi{number: id + "@" + dom, domain: dom, provider: "Pexip Service", videoID: id, pos: s.start}
				if keyAddr != nil {
					c.key = d.address(*keyAddr)
				}
				return c, true
			}
		case hasPrefixFold(s.rest, "/teams/?") || hasPrefixFold(s.rest, "/teams?"):
			// Pexip Infinity's InstructionUri: /teams/?conf=<id>&ivr=<alias>&d=<domain>[&prefix=<p>]
			id, dom, prefix := queryValue(u, "conf"), lowerASCII(queryValue(u, "d")), queryValue(u, "prefix")
			if isDigits(id) && checkDomain(dom) == "" && (prefix == "" || validLocal(prefix)) {
				c := cvi{number: prefix + id + "@" + dom, domain: dom, provider: "Pexip Infinity", videoID: id, pos: s.start}
				if keyAddr != nil {
					c.key = d.address(*keyAddr)
				}
				return c, true
			}
		}
	}
	if keyAddr == nil {
		return cvi{}, false
	}
	local, dom := d.local(*keyAddr), lowerASCII(d.domain(*keyAddr))
	name, idFirst, known := cviProvider(dom, local)
	c := cvi{domain: dom, provider: name, key: local + "@" + dom, videoID: keyID.digits(), pos: keyAddr.start}
	switch {
	case known:
		c.number = buildCVI(name, idFirst, local, dom, keyID.digits())
	case dom == ruleDomain:
		// The admin named this as the CVI domain: Pexip's form, <VideoID>@<domain>.
		c.provider = "the rule's domain"
		c.number = keyID.digits() + "@" + dom
	}
	return c, true
}

func isDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// validLocal reports whether s can be the local part of a SIP URI we build.
func validLocal(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLocalChar(s[i]) {
			return false
		}
	}
	return true
}

func evalTeams(c *evalCtx, r *rule) (match, string) {
	d := c.d
	joinURL := ""
	if ev := c.ev; ev.OnlineMeeting != nil && ev.OnlineMeeting.JoinURL != "" {
		if host, rest, ok := splitURL(ev.OnlineMeeting.JoinURL); ok && isTeamsJoin(span{host: host, rest: rest}) {
			joinURL = ev.OnlineMeeting.JoinURL
		}
	}
	// Teams join links in the body, each starting a block that runs to the next different
	// link (a forwarded or updated invite can carry several).
	type block struct {
		start int
		url   string
	}
	var blocks []block
	var locLink string
	for _, s := range d.urls {
		if !isTeamsJoin(s) {
			continue
		}
		u := d.url(s)
		if s.start < d.locEnd {
			if locLink == "" {
				locLink = u
			}
			continue
		}
		if !d.inBody(s.start) {
			continue
		}
		if n := len(blocks); n > 0 && sameTeamsMeeting(blocks[n-1].url, u) {
			continue
		}
		blocks = append(blocks, block{s.start, u})
	}
	from, to := d.joinEnd, len(d.text)
	bodyLink := ""
	if len(blocks) > 0 {
		i := 0
		if joinURL != "" {
			for k, b := range blocks {
				if sameTeamsMeeting(b.url, joinURL) {
					i = k
					break
				}
			}
		}
		from, bodyLink = blocks[i].start, blocks[i].url
		if i+1 < len(blocks) {
			to = blocks[i+1].start
		}
	}
	cv, hasCVI := findCVI(c, from, to, r.domain)
	// No readable join link: the printed Meeting ID and Passcode make one (teamsid.go).
	var built teamsIDLink
	if len(blocks) == 0 && joinURL == "" && locLink == "" {
		if b, ok := findTeamsMeetingID(d, from, to); ok && (hasCVI || looksLikeTeams(c)) {
			built = b
		}
	}
	if len(blocks) == 0 && !hasCVI && joinURL == "" && locLink == "" && built.link == "" {
		return match{}, ""
	}
	link := joinURL
	if link == "" {
		link = bodyLink
	}
	if link == "" {
		link = locLink
	}
	if link == "" {
		link = built.link
	}
	// Where the Teams block starts, for the "written above it" comparison: its separator
	// line of underscores when there is one.
	pos := len(d.text)
	if len(blocks) > 0 {
		pos = blocks[0].start
	} else if hasCVI {
		pos = cv.pos
	} else if built.link != "" {
		pos = built.pos
	}
	if pos < len(d.text) {
		lo := max(d.joinEnd, pos-600)
		if k := strings.LastIndex(d.text[lo:pos], "__________"); k >= 0 {
			pos = lo + k
		}
	}
	var skipped string
	if hasCVI {
		switch {
		case cv.number == "":
			skipped = fmt.Sprintf("the CVI block's tenant key %s belongs to an unknown provider, whose direct-dial form is not known (set this rule's domain to %s if it takes <VideoID>@%s)", cv.key, cv.domain, cv.domain)
		case r.domain != "" && cv.domain != r.domain:
			if !c.p.webrtc || link == "" {
				// Not our CVI, but the best address there is: the other tenant's provider
				// takes the call (its lobby applies).
				why := "WebRTC joins are off"
				if c.p.webrtc {
					why = "there is no join link"
				}
				return match{number: cv.number, protocol: "SIP", platform: "MicrosoftTeams", pos: pos,
					note: fmt.Sprintf("Teams CVI (%s) of another tenant (this rule's domain is %s), dialled because %s: video ID %s", cv.provider, r.domain, why, cv.videoID)}, ""
			}
			skipped = fmt.Sprintf("CVI block for %s ignored: this rule's domain is %s", cv.domain, r.domain)
		default:
			note := fmt.Sprintf("Teams CVI (%s): video ID %s", cv.provider, cv.videoID)
			if cv.key != "" {
				note += ", tenant key " + cv.key
			}
			return match{number: cv.number, protocol: "SIP", platform: "MicrosoftTeams", pos: pos, note: note}, ""
		}
	}
	if link == "" {
		if cv.number == "" && cv.key != "" && !c.p.webrtc {
			return match{number: cv.key, protocol: "SIP", platform: "MicrosoftTeams", pos: pos,
				note: "Teams CVI tenant key (IVR: enter video ID " + cv.videoID + "); " + skipped}, ""
		}
		return match{}, skipped
	}
	if !c.p.webrtc {
		if cv.number == "" && cv.key != "" {
			return match{number: cv.key, protocol: "SIP", platform: "MicrosoftTeams", pos: pos,
				note: "Teams CVI tenant key (IVR: enter video ID " + cv.videoID + "), as WebRTC joins are off; " + skipped}, ""
		}
		msg := "Teams meeting without a video-device (CVI) address, and WebRTC joins are off (webrtc: false)"
		if skipped != "" {
			msg = skipped + ", and WebRTC joins are off (webrtc: false)"
		}
		return match{}, msg
	}
	note := "Teams join link (WebRTC)"
	switch {
	case link == joinURL:
		note += " from onlineMeeting.joinUrl"
	case link == built.link:
		note += " built from the printed Meeting ID " + built.id + " and Passcode (" + unreadableLinkWhy(d) + ")"
	case d.wrapperFor(link) != wrapNone:
		note += ", unwrapped from " + d.wrapperFor(link).String()
	}
	switch {
	case skipped != "":
		note += "; " + skipped
	case strings.TrimSpace(d.body()) == "":
		note += "; the body was removed by the room mailbox, so no video-device (CVI) address could be read"
	default:
		note += "; no video-device (CVI) block"
	}
	return match{number: link, protocol: "WebRTC", platform: "MicrosoftTeams", pos: pos, note: note}, ""
}
