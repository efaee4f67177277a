package rules

import "strings"

// The Zoom rule: the meeting ID and passcode from a Zoom link or a printed SIP address, and
// the address a codec dials (SIP, or H.323 via an IP printed in the invite).

func isZoomHost(h string) bool {
	return hostIs(h, "zoom.us") || hostIs(h, "zoom.com") || hostIs(h, "zoomgov.com")
}

// isZoomSIPDomain matches zoomcrc.com and the regional CRC domains (zmus.us, zmeu.us, …,
// with data-centre subdomains such as fr.zmeu.us).
func isZoomSIPDomain(dom string) bool {
	if hostIs(dom, "zoomcrc.com") {
		return true
	}
	if !strings.HasSuffix(dom, ".us") {
		return false
	}
	base := strings.TrimSuffix(dom, ".us")
	if k := strings.LastIndexByte(base, '.'); k >= 0 {
		base = base[k+1:]
	}
	return len(base) == 4 && base[:2] == "zm" && isASCIILetter(base[2]) && isASCIILetter(base[3])
}

// zoomMeetingID returns the meeting ID in a Zoom link path (/j/<id>, /w/<id>, /wc/join/<id>).
func zoomMeetingID(rest string) (id string, vanity bool, ok bool) {
	for _, p := range []string{"/j/", "/w/", "/wc/join/", "/wc/"} {
		if hasPrefixFold(rest, p) {
			v := rest[len(p):]
			n := 0
			for n < len(v) && isDigit(v[n]) {
				n++
			}
			if n >= 9 && n <= 12 {
				return v[:n], false, true
			}
		}
	}
	if hasPrefixFold(rest, "/my/") && len(rest) > 4 {
		return "", true, true
	}
	return "", false, false
}

// zoomPasscode finds the numeric passcode room systems use, without relying on the label:
// the "*<digits>#" of a one-tap mobile line for this meeting, else a "<label>: <digits>" line
// right after the meeting ID (the last one: Zoom prints the numeric passcode in the H.323
// section when the web passcode is alphanumeric).
func zoomPasscode(d *doc, id string) string {
	body := d.text
	for i := 0; i < len(body); {
		k := strings.Index(body[i:], ",,"+id+"#")
		if k < 0 {
			break
		}
		j := i + k + 3 + len(id)
		for j < len(body) && body[j] == ',' {
			j++
		}
		if j < len(body) && body[j] == '*' {
			e := j + 1
			for e < len(body) && isDigit(body[e]) && e-j <= 12 {
				e++
			}
			if e < len(body) && body[e] == '#' && e-j-1 >= 4 {
				return body[j+1 : e]
			}
		}
		i = j
	}
	pin := ""
	for from := d.joinEnd; from < len(body); {
		r, ok := nextDigitRun(body, from, len(body))
		if !ok {
			break
		}
		from = r.end
		if !r.is(id) {
			continue
		}
		rest, next := lineAfter(body, r.end)
		if v, ok := labelledDigits(rest, 4, 10); ok {
			pin = v
		} else if v, ok := labelledDigits(next, 4, 10); ok {
			pin = v
		}
	}
	return pin
}

func evalZoom(c *evalCtx, r *rule) (match, string) {
	d := c.d
	var sip *addr
	for i := range d.addrs {
		a := &d.addrs[i]
		if !a.inURL && a.scheme != "mailto" && isZoomSIPDomain(lowerASCII(d.domain(*a))) {
			sip = a
			break
		}
	}
	var link *span
	var id string
	vanity := false
	for i := range d.urls {
		s := &d.urls[i]
		if !isZoomHost(s.host) {
			continue
		}
		if mid, v, ok := zoomMeetingID(s.rest); ok {
			link, id, vanity = s, mid, v
			break
		}
	}
	// A Zoom link behind Mimecast cannot be decoded, but Mimecast names the host, and the
	// meeting ID is printed under the link: read it from there, as for personal links.
	behindMimecast := false
	if link == nil && sip == nil {
		for i := range d.urls {
			s := &d.urls[i]
			if s.wrapper == wrapMimecast && isZoomHost(mimecastHost(d.url(*s))) {
				link, vanity, behindMimecast = s, true, true
				break
			}
		}
	}
	if sip == nil && link == nil {
		return match{}, ""
	}
	pos := len(d.text)
	if link != nil {
		pos = link.start
	}
	if sip != nil && sip.start < pos {
		pos = sip.start
	}
	if id == "" && sip != nil {
		local := d.local(*sip)
		if k := strings.IndexByte(local, '.'); k > 0 {
			local = local[:k]
		}
		if isDigits(local) {
			id = local
		}
	}
	if id == "" && vanity {
		// Personal links (/my/<name>) carry no ID: take the meeting ID printed after the link.
		if run, ok := d.idRun(link.end, min(link.end+400, len(d.text)), 9, 11); ok {
			id = run.digits()
		}
	}
	if id == "" {
		if behindMimecast {
			return match{}, "Zoom link behind Mimecast URL Protect (cannot be decoded offline) and no meeting ID printed under it"
		}
		return match{}, "Zoom link without a meeting ID"
	}
	pin := ""
	if r.spec.IncludePIN {
		pin = zoomPasscode(d, id)
	}
	how := "Zoom"
	switch {
	case behindMimecast:
		how += " link behind Mimecast URL Protect (cannot be decoded offline; meeting ID read from the invite text)"
	case link != nil:
		if w := d.wrapperFor(d.url(*link)); w != wrapNone {
			how += " link unwrapped from " + w.String()
		}
	}
	if r.spec.Protocol == "H323" {
		// H.323 needs a Zoom data-centre IP from the invite's "Join by H.323" list.
		if ip := firstIPv4(d, d.joinEnd); ip != "" {
			n := ip + "##" + id
			if pin != "" {
				n += "#" + pin
			}
			return match{number: n, protocol: "H323", platform: "Zoom", pos: pos, note: how + ": H.323 via " + ip + pinNote(r, pin)}, ""
		}
	}
	var number, note string
	switch {
	case sip != nil:
		local := d.local(*sip)
		if pin != "" && !strings.Contains(local, ".") && local == id {
			local += "." + pin
		}
		number = local + "@" + lowerASCII(d.domain(*sip))
		note = how + ": printed SIP address" + pinNote(r, pin)
	case (hostIs(link.host, "zoomgov.com") || behindMimecast && hostIs(mimecastHost(d.url(*link)), "zoomgov.com")) && r.domain == "":
		return match{}, "ZoomGov meeting without a printed SIP address; set this rule's domain to your ZoomGov SIP domain"
	default:
		dom := r.domain
		if dom == "" {
			dom = "zoomcrc.com"
		}
		number = id
		if pin != "" {
			number += "." + pin
		}
		number += "@" + dom
		note = how + ": meeting ID " + id + pinNote(r, pin)
	}
	if r.spec.Protocol == "H323" {
		note += "; no H.323 IP in the invite, dialled by SIP"
	}
	return match{number: number, protocol: "SIP", platform: "Zoom", pos: pos, note: note}, ""
}

func pinNote(r *rule, pin string) string {
	switch {
	case !r.spec.IncludePIN:
		return ""
	case pin != "":
		return ", with passcode"
	default:
		return ", no numeric passcode found (the room will be asked for it)"
	}
}

// firstIPv4 returns the first stand-alone IPv4 address in the text from pos.
func firstIPv4(d *doc, pos int) string {
	t := d.text
	for i := pos; i < len(t); {
		if !isDigit(t[i]) || i > 0 && (isAlnum(t[i-1]) || t[i-1] == '.') {
			i++
			continue
		}
		e := i
		for e < len(t) && e-i < 16 && (isDigit(t[e]) || t[e] == '.') {
			e++
		}
		end := e
		for end > i && t[end-1] == '.' {
			end--
		}
		if ip := t[i:end]; isIPv4(ip) && !d.inURL(i) && (e == len(t) || !isAlnum(t[e]) && t[e] != '@') {
			return ip
		}
		i = e
	}
	return ""
}
