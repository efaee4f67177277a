package rules

import (
	"net/url"
	"strings"
)

// The built-in provider rules other than Teams (teams.go) and Zoom (zoom.go)
// (README "Meeting processing rules"): Webex, Google Meet, Pexip, Skype for Business, GoTo, BlueJeans.
// Each finds its provider's evidence (links, printed addresses, digit patterns) and derives
// the address a codec dials. They return the match, or a note saying why the provider's
// invite gave no address ("" when the invite is not theirs).

// ---- Webex ----

// webexSite returns the site of a Webex host (acme for acme.webex.com), "" for Webex's own
// service hosts.
func webexSite(host string) string {
	if !strings.HasSuffix(host, ".webex.com") {
		return ""
	}
	site := strings.TrimSuffix(host, ".webex.com")
	switch site {
	case "www", "help", "m", "signin", "web", "api", "idbroker", "cart", "pricing", "blog", "lync", "settings", "collaborationhelp", "status":
		return ""
	}
	if strings.ContainsRune(site, '.') {
		return ""
	}
	return site
}

func evalWebex(c *evalCtx, r *rule) (match, string) {
	d := c.d
	proto := "SIP"
	if r.spec.Protocol == "Spark" {
		proto = "Spark"
	}
	// A printed video address wins: it is what Webex tells room systems to dial.
	for _, a := range d.addrs {
		if a.inURL || a.scheme == "mailto" {
			continue
		}
		local, dom := d.local(a), lowerASCII(d.domain(a))
		switch {
		case dom == "lync.webex.com":
			// <name>.<site>@lync.webex.com is the Skype form of <name>@<site>.webex.com.
			k := strings.LastIndexByte(local, '.')
			if k <= 0 || k == len(local)-1 {
				continue
			}
			n := local[:k] + "@" + strings.ToLower(local[k+1:]) + ".webex.com"
			return match{number: n, protocol: proto, platform: "Webex", pos: a.start, note: "Webex: video address from the Skype for Business line"}, ""
		case dom == "webex.com" && strings.Contains(local, "."):
			return match{number: local + "@" + dom, protocol: proto, platform: "Webex", pos: a.start, note: "Webex: printed video address"}, ""
		case webexSite(dom) != "":
			return match{number: local + "@" + dom, protocol: proto, platform: "Webex", pos: a.start, note: "Webex: printed video address"}, ""
		}
	}
	for _, s := range d.urls {
		if s.wrapper == wrapMimecast {
			// Mimecast hides the path but names the host: a Webex site's meeting number is
			// printed under the link.
			host := mimecastHost(d.url(s))
			if webexSite(host) == "" {
				continue
			}
			if run, ok := d.idRun(s.end, min(s.end+600, len(d.text)), 9, 12); ok {
				return match{number: run.digits() + "@" + host, protocol: proto, platform: "Webex", pos: s.start,
					note: "Webex link behind Mimecast URL Protect (cannot be decoded offline; site from Mimecast's domain=, meeting number " + run.digits() + " from the invite text)"}, ""
			}
			return match{}, "Webex link behind Mimecast URL Protect (cannot be decoded offline) and no meeting number printed under it"
		}
		site := webexSite(s.host)
		if site == "" || hasPrefixFold(s.rest, "/msteams") {
			continue
		}
		how := "Webex"
		if w := d.wrapperFor(d.url(s)); w != wrapNone {
			how += " link unwrapped from " + w.String()
		}
		for _, p := range []string{"/meet/", "/join/"} {
			if hasPrefixFold(s.rest, p) {
				name := s.rest[len(p):]
				if k := strings.IndexAny(name, "/?#"); k >= 0 {
					name = name[:k]
				}
				if validLocal(name) {
					return match{number: name + "@" + s.host, protocol: proto, platform: "Webex", pos: s.start,
						note: how + ": personal room " + name}, ""
				}
			}
		}
		if indexFold(s.rest, "j.php") >= 0 || hasPrefixFold(s.rest, "/wbxmjs/joinservice/") || strings.Contains(s.rest, "/meeting/") {
			// The link's MTID token does not contain the number; read the meeting number
			// printed after it.
			if run, ok := d.idRun(s.end, min(s.end+600, len(d.text)), 9, 12); ok {
				return match{number: run.digits() + "@" + s.host, protocol: proto, platform: "Webex", pos: s.start,
					note: how + ": meeting number " + run.digits()}, ""
			}
			return match{}, "Webex link without a meeting number or video address in the invite"
		}
	}
	return match{}, ""
}

// ---- Google Meet ----

// meetCode returns the meeting code of a meet.google.com link (abc-defg-hij, or lookup/<name>).
func meetCode(s span) (string, bool) {
	if s.host != "meet.google.com" {
		return "", false
	}
	p := s.rest
	if k := strings.IndexAny(p, "?#"); k >= 0 {
		p = p[:k]
	}
	p = strings.Trim(p, "/")
	if strings.HasPrefix(p, "lookup/") && validLocal(p[len("lookup/"):]) {
		return p, true
	}
	if len(p) == 12 && p[3] == '-' && p[8] == '-' {
		for i := 0; i < 12; i++ {
			if i != 3 && i != 8 && !(p[i] >= 'a' && p[i] <= 'z') {
				return "", false
			}
		}
		return p, true
	}
	return "", false
}

func evalMeet(c *evalCtx, r *rule) (match, string) {
	d := c.d
	var code string
	pos := -1
	for _, s := range d.urls {
		if cd, ok := meetCode(s); ok {
			code, pos = cd, s.start
			break
		}
	}
	if code == "" {
		return match{}, ""
	}
	if r.domain != "" {
		// Interop (Pexip): Calendar adds the SIP address <meeting id>@<interop domain>.
		for _, a := range d.addrs {
			if !a.inURL && a.scheme != "mailto" && lowerASCII(d.domain(a)) == r.domain {
				return match{number: d.local(a) + "@" + r.domain, protocol: "SIP", platform: "GoogleMeet", pos: pos,
					note: "Google Meet via the interop gateway " + r.domain}, ""
			}
		}
	}
	if !c.p.webrtc {
		msg := "Google Meet meeting without an interop SIP address, and WebRTC joins are off (webrtc: false)"
		if r.domain == "" {
			msg = "Google Meet meeting, no interop domain set on the rule, and WebRTC joins are off (webrtc: false)"
		}
		return match{}, msg
	}
	note := "Google Meet (WebRTC)"
	if r.domain != "" {
		note += "; no " + r.domain + " address in the invite"
	}
	return match{number: "https://meet.google.com/" + code, protocol: "WebRTC", platform: "GoogleMeet", pos: pos, note: note}, ""
}

// ---- Pexip Infinity / Service VMRs ----

// pexipAlias returns the VMR alias of a pexip:// link or a Pexip web app link.
func pexipAlias(d *doc, s span) (alias string, ok bool) {
	u := d.url(s)
	if s.host == "" { // pexip://<alias>
		a := s.rest
		if k := strings.IndexAny(a, "?#"); k >= 0 {
			a = a[:k]
		}
		a = strings.TrimSuffix(a, "/")
		if dec, err := url.PathUnescape(a); err == nil {
			a = dec
		}
		return a, validAlias(a)
	}
	k := indexFold(s.rest, "/webapp")
	if k < 0 {
		return "", false
	}
	for _, key := range []string{"conference", "alias"} {
		if v := queryValue(u, key); v != "" {
			return v, validAlias(v)
		}
	}
	rest := s.rest[k+len("/webapp"):]
	for len(rest) > 0 && isDigit(rest[0]) { // /webapp2/, /webapp3/
		rest = rest[1:]
	}
	for _, p := range []string{"/conference/", "/m/", "/#/conference/"} {
		if hasPrefixFold(rest, p) {
			a := rest[len(p):]
			if e := strings.IndexAny(a, "/?#"); e >= 0 {
				a = a[:e]
			}
			if dec, err := url.PathUnescape(a); err == nil {
				a = dec
			}
			return a, validAlias(a)
		}
	}
	return "", false
}

func validAlias(a string) bool {
	if a == "" || len(a) > 200 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; !isLocalChar(c) && c != '@' {
			return false
		}
	}
	return strings.Count(a, "@") <= 1
}

func evalPexip(c *evalCtx, r *rule) (match, string) {
	d := c.d
	hasMeet := false
	for _, s := range d.urls {
		if _, ok := meetCode(s); ok {
			hasMeet = true
		}
		alias, ok := pexipAlias(d, s)
		if !ok {
			continue
		}
		note := "Pexip VMR"
		if s.host == "" {
			note += " (pexip:// link)"
		} else {
			note += " (web app link)"
		}
		if !strings.Contains(alias, "@") {
			switch {
			case r.domain != "":
				alias += "@" + r.domain
			case s.host != "":
				alias += "@" + s.host
				note += "; bare alias: appended the web app's host, set this rule's domain to your Pexip domain"
			default:
				note += "; bare alias dialled as is (set this rule's domain to add one)"
			}
		}
		return match{number: alias, protocol: "SIP", platform: "Other", pos: s.start, note: note}, ""
	}
	// Pexip Service VMR aliases printed in the invite.
	for _, a := range d.addrs {
		if a.inURL || a.scheme == "mailto" {
			continue
		}
		local, dom := d.local(a), lowerASCII(d.domain(a))
		if !(hostIs(dom, "onpexip.com") || hostIs(dom, "pexip.me")) || strings.HasPrefix(dom, "gmeet.") {
			continue
		}
		if strings.EqualFold(local, "teams") || len(local) > 6 && strings.EqualFold(local[len(local)-6:], ".teams") {
			continue // a Teams CVI tenant key (the teams rule's business)
		}
		if hasMeet && isDigits(local) {
			continue // a Google Meet interop address (the google_meet rule's business)
		}
		return match{number: local + "@" + dom, protocol: "SIP", platform: "Other", pos: a.start, note: "Pexip Service VMR address"}, ""
	}
	return match{}, ""
}

// ---- Skype for Business ----

func evalSkype(c *evalCtx, r *rule) (match, string) {
	d := c.d
	// The ICS focus URI: conf:sip:<user>@<domain>;gruu;opaque=app:conf:focus:id:<ID>
	if k := strings.Index(d.text, "app:conf:focus:id:"); k >= 0 {
		e := k + len("app:conf:focus:id:")
		n := e
		for n < len(d.text) && isAlnum(d.text[n]) {
			n++
		}
		id := d.text[e:n]
		for i := len(d.addrs) - 1; i >= 0; i-- {
			a := d.addrs[i]
			if a.end <= k && k-a.end < 64 && a.scheme == "sip" && id != "" {
				return match{number: "S4B." + id + "." + d.address(a), protocol: "SIP", platform: "Other", pos: a.start,
					note: "Skype for Business meeting " + id + " (focus URI); needs a gateway rule for S4B.<ID>.<user>@<domain>"}, ""
			}
		}
	}
	for _, s := range d.urls {
		if s.host == "meet.lync.com" {
			return match{}, "Skype for Business Online meeting: the service was retired on 31 July 2021, the link no longer works"
		}
		if !strings.HasPrefix(s.host, "meet.") || strings.Count(s.host, ".") < 2 || notSkypeMeetHost(s.host) {
			continue
		}
		p := strings.Trim(s.rest, "/")
		if k := strings.IndexAny(p, "?#"); k >= 0 {
			p = p[:k]
		}
		parts := strings.Split(p, "/")
		if len(parts) != 2 || !validLocal(parts[0]) || len(parts[1]) < 5 || len(parts[1]) > 16 {
			continue
		}
		id := parts[1]
		ok := true
		for i := 0; i < len(id); i++ {
			if !isAlnum(id[i]) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		dom := strings.TrimPrefix(s.host, "meet.")
		return match{number: "S4B." + id + "." + parts[0] + "@" + dom, protocol: "SIP", platform: "Other", pos: s.start,
			note: "Skype for Business meeting " + id + " of " + parts[0] + "@" + dom + "; needs a gateway rule for S4B.<ID>.<user>@<domain>"}, ""
	}
	return match{}, ""
}

// notSkypeMeetHost lists the meet.* hosts of other services.
func notSkypeMeetHost(h string) bool {
	switch h {
	case "meet.google.com", "meet.goto.com", "meet.jit.si", "meet.starleaf.com", "meet.lifesize.com", "meet.zoho.com", "meet.zoho.eu", "meet.lync.com":
		return true
	}
	return false
}

// ---- GoTo Meeting ----

func isGoToLink(s span) bool {
	return hostIs(s.host, "gotomeeting.com") || hostIs(s.host, "goto.com") || hostIs(s.host, "gotomeet.me") || hostIs(s.host, "gotowebinar.com")
}

func evalGoTo(c *evalCtx, r *rule) (match, string) {
	d := c.d
	pos := -1
	for _, s := range d.urls {
		if isGoToLink(s) {
			pos = s.start
			break
		}
	}
	if pos < 0 {
		return match{}, ""
	}
	// "<id>@<ip>" (SIP, "Cisco devices") and "<ip>##<id>" (H.323).
	var sipNum string
	for _, a := range d.addrs {
		if !a.inURL && isDigits(d.local(a)) && isIPv4(d.domain(a)) {
			sipNum = d.address(a)
			break
		}
	}
	var h323 string
	for i := 0; i < len(d.text); {
		k := strings.Index(d.text[i:], "##")
		if k < 0 {
			break
		}
		p := i + k
		ip := ipv4At(d.text, p)
		e := p + 2
		for e < len(d.text) && isDigit(d.text[e]) && e-p < 16 {
			e++
		}
		if ip != "" && e-p-2 >= 6 {
			h323 = ip + "##" + d.text[p+2:e]
			break
		}
		i = p + 2
	}
	switch {
	case sipNum != "" && (r.spec.Protocol != "H323" || h323 == ""):
		return match{number: sipNum, protocol: "SIP", platform: "Other", pos: pos, note: "GoTo Meeting: room-system SIP address"}, ""
	case h323 != "":
		return match{number: h323, protocol: "H323", platform: "Other", pos: pos, note: "GoTo Meeting: room-system H.323 address"}, ""
	}
	return match{}, "GoTo meeting without room-system dial-in (the organizer's plan may not include it)"
}

// ---- BlueJeans ----

func evalBlueJeans(c *evalCtx, r *rule) (match, string) {
	d := c.d
	for _, a := range d.addrs {
		if a.inURL || a.scheme == "mailto" || lowerASCII(d.domain(a)) != "bjn.vc" {
			continue
		}
		local := d.local(a)
		if !isDigits(strings.SplitN(local, ".", 2)[0]) {
			continue // meet@bjn.vc is the IVR
		}
		return match{number: local + "@bjn.vc", protocol: "SIP", platform: "Other", pos: a.start, note: "BlueJeans: printed SIP address"}, ""
	}
	for _, s := range d.urls {
		if !hostIs(s.host, "bluejeans.com") {
			continue
		}
		p := strings.TrimPrefix(s.rest, "/")
		if k := strings.IndexAny(p, "?#"); k >= 0 {
			p = p[:k]
		}
		id, pin, _ := strings.Cut(strings.TrimSuffix(p, "/"), "/")
		if pin == "" {
			id, pin, _ = strings.Cut(id, ".")
		}
		if !isDigits(id) || len(id) < 6 {
			continue
		}
		n := id
		note := "BlueJeans meeting " + id
		if r.spec.IncludePIN {
			if isDigits(pin) {
				n += "." + pin
				note += ", with passcode"
			} else {
				note += ", no passcode in the link"
			}
		}
		return match{number: n + "@bjn.vc", protocol: "SIP", platform: "Other", pos: s.start, note: note}, ""
	}
	return match{}, ""
}

// indexFold is strings.Index ignoring ASCII case (sub is short; no allocation).
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
