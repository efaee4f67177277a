package rules

import (
	"strings"
	"text/template"
)

// The rule types named as Pexip names them, so a Pexip profile carries over type for type
// (README "Meeting processing rules"): gotomeeting, s4b and pexipservice. Pexip's
// teamssipguestjoin and googlemeetsipguestjoin are refused in spec.go (refusedTypes).

// compilePexipType fills in a Pexip-named rule's matcher (nothing for an unknown type, which
// Validate has reported).
func compilePexipType(r *rule) {
	switch r.spec.Type {
	case TypeGoToMeeting:
		r.eval, r.provider = evalGoToMeeting, true
	case TypeS4B:
		r.eval, r.provider = evalS4B, true
		text := r.spec.Template
		if text == "" {
			text = DefaultS4BTemplate
		}
		if t, err := ParseTemplate(r.spec.Name, text); err == nil {
			r.tmpl = t
		}
	case TypePexipService:
		r.eval, r.provider = evalPexipService, true
	}
}

// ---- gotomeeting ----

// gotoRoomLines reads GoTo's room-system lines: "<ip>##<id>" (H.323) and "<id>@<ip>" (SIP,
// "Cisco devices"). id is the meeting ID of the SIP line, else of the H.323 line.
type gotoRoom struct {
	sip, h323, sipID, h323ID, h323IP string
	pos                              int // where the first line starts (-1 when none)
}

func gotoRoomLines(d *doc) gotoRoom {
	g := gotoRoom{pos: -1}
	for _, a := range d.addrs {
		if l := d.local(a); !a.inURL && a.scheme != "mailto" && isDigits(l) && len(l) >= 6 && isIPv4(d.domain(a)) {
			g.sip, g.sipID, g.pos = d.address(a), l, a.start
			break
		}
	}
	// "##" scan: each occurrence is looked at once, and the digits after it are bounded.
	for i := 0; i < len(d.text); {
		k := strings.Index(d.text[i:], "##")
		if k < 0 {
			break
		}
		p := i + k
		i = p + 2
		ip := ipv4At(d.text, p)
		e := p + 2
		for e < len(d.text) && isDigit(d.text[e]) && e-p < 16 {
			e++
		}
		if ip == "" || e-p-2 < 6 || e < len(d.text) && isDigit(d.text[e]) {
			continue
		}
		g.h323, g.h323ID, g.h323IP = ip+"##"+d.text[p+2:e], d.text[p+2:e], ip
		if g.pos < 0 || p-len(ip) < g.pos {
			g.pos = p - len(ip)
		}
		break
	}
	return g
}

// gotoLinkID returns the meeting ID of a GoTo join link (global.gotomeeting.com/join/<id>,
// meet.goto.com/<id>, gotomeet.me is a personal name and has none).
func gotoLinkID(s span) string {
	p := s.rest
	if k := strings.IndexAny(p, "?#"); k >= 0 {
		p = p[:k]
	}
	p = strings.Trim(p, "/")
	p = strings.TrimPrefix(p, "join/")
	if isDigits(p) && len(p) >= 6 {
		return p
	}
	return ""
}

// evalGoToMeeting is Pexip's gotomeeting: the room-system address GoTo prints. SIP
// (<id>@<ip>) by default, H.323 (<ip>##<id>) with protocol: H323; with domain, the meeting ID
// at that domain (a gateway that takes <id>@<domain>). The invite is GoTo's when it has a GoTo
// link (also behind Mimecast, which names the host) or, with the link unreadable, both room
// lines for the same meeting ID.
func evalGoToMeeting(c *evalCtx, r *rule) (match, string) {
	d := c.d
	pos, linkID, how := -1, "", "GoTo Meeting"
	for _, s := range d.urls {
		if isGoToLink(s) {
			pos, linkID = s.start, gotoLinkID(s)
			if w := d.wrapperFor(d.url(s)); w != wrapNone {
				how += " (link unwrapped from " + w.String() + ")"
			}
			break
		}
		if s.wrapper == wrapMimecast {
			if h := mimecastHost(d.url(s)); isGoToLink(span{host: h}) {
				pos, how = s.start, "GoTo Meeting (link behind Mimecast URL Protect, read from the printed room-system lines)"
				break
			}
		}
	}
	g := gotoRoomLines(d)
	if pos < 0 {
		if g.sip == "" || g.h323 == "" || g.sipID != g.h323ID {
			return match{}, "" // not a GoTo invite, or not one we can tell apart from another provider's H.323 line
		}
		pos, how = g.pos, "GoTo Meeting (no readable GoTo link; both room-system lines name meeting "+g.sipID+")"
	}
	id := g.sipID
	if id == "" {
		id = g.h323ID
	}
	if id == "" {
		id = linkID
	}
	switch {
	case r.spec.Protocol == "H323" && g.h323 != "":
		return match{number: g.h323, protocol: "H323", platform: "Other", pos: pos, note: how + ": room-system H.323 address"}, ""
	case r.domain != "" && id != "":
		return match{number: id + "@" + r.domain, protocol: "SIP", platform: "Other", pos: pos,
			note: how + ": meeting " + id + " at this rule's domain " + r.domain}, ""
	case g.sip != "":
		return match{number: g.sip, protocol: "SIP", platform: "Other", pos: pos, note: how + ": room-system SIP address"}, ""
	case g.h323 != "" && r.spec.Protocol != "H323":
		return match{number: g.h323ID + "@" + g.h323IP, protocol: "SIP", platform: "Other", pos: pos,
			note: how + ": SIP address built from the H.323 line " + g.h323 + " (GoTo's room gateways take both)"}, ""
	case r.spec.Protocol == "H323":
		return match{}, "GoTo meeting without an H.323 room-system line (protocol: H323)"
	}
	return match{}, "GoTo meeting without room-system dial-in (the organizer's plan may not include it); set domain to dial the meeting ID through your gateway"
}

// ---- s4b ----

// DefaultS4BTemplate is the alias an s4b rule builds when it has no template: the form Pexip's
// Skype for Business gateway routes (a call-routing rule turns it back into the focus URI).
const DefaultS4BTemplate = "S4B.{{.ID}}.{{.User}}@{{.Domain}}"

// S4BData is what an s4b rule's template sees.
type S4BData struct {
	User         string // the organizer's SIP user part (ada.lovelace)
	ID           string // the meeting ID from the meet link or focus URI (ABCD1234)
	Domain       string // the organizer's SIP domain (contoso.com)
	ConferenceID string // the printed dial-in conference ID ("" when none is printed)
	URL          string // the meet link ("" for a focus URI)
	Gateway      string // this rule's domain ("" when not set)
}

// checkS4BTemplate reports what is wrong with an s4b template ("" when fine or empty).
func checkS4BTemplate(text string) string {
	if text == "" {
		return ""
	}
	if len(text) > maxTemplateLen {
		return "is too long"
	}
	t, err := ParseTemplate("s4b", text)
	if err != nil {
		return err.Error()
	}
	// Run it once on a sample: a field S4BData does not have fails here, not at 3 am.
	sample := &S4BData{User: "user", ID: "ID1234", Domain: "example.com", ConferenceID: "1234567", URL: "https://meet.example.com/user/ID1234", Gateway: "gw.example.com"}
	if _, err := execAny(t, sample); err != nil {
		return "fails on a sample meeting: " + strings.TrimPrefix(err.Error(), "template: ") + " (fields: .User .ID .Domain .ConferenceID .URL .Gateway)"
	}
	return ""
}

func execAny(t *template.Template, data any) (string, error) {
	var w limitedWriter
	if err := t.Execute(&w, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(w.b)), nil
}

// s4bMeeting finds a Skype for Business Server meeting: the ICS focus URI or a
// meet.<domain>/<user>/<id> link. retired is set for Skype Online links.
func s4bMeeting(d *doc) (m S4BData, pos int, retired bool) {
	if k := strings.Index(d.text, "app:conf:focus:id:"); k >= 0 {
		e := k + len("app:conf:focus:id:")
		n := e
		for n < len(d.text) && n-e < 32 && isAlnum(d.text[n]) {
			n++
		}
		for i := len(d.addrs) - 1; i >= 0; i-- {
			a := d.addrs[i]
			if a.end <= k && k-a.end < 64 && a.scheme == "sip" && n > e {
				return S4BData{User: d.local(a), ID: d.text[e:n], Domain: lowerASCII(d.domain(a)), ConferenceID: s4bConferenceID(d, a.end)}, a.start, false
			}
		}
	}
	for _, s := range d.urls {
		if s.host == "meet.lync.com" {
			return S4BData{}, s.start, true
		}
		if !strings.HasPrefix(s.host, "meet.") || strings.Count(s.host, ".") < 2 || notSkypeMeetHost(s.host) {
			continue
		}
		p := strings.Trim(s.rest, "/")
		if k := strings.IndexAny(p, "?#"); k >= 0 {
			p = p[:k]
		}
		user, id, ok := strings.Cut(p, "/")
		if !ok || strings.Contains(id, "/") || !validLocal(user) || len(id) < 5 || len(id) > 16 {
			continue
		}
		alnum := true
		for i := 0; i < len(id); i++ {
			alnum = alnum && isAlnum(id[i])
		}
		if !alnum {
			continue
		}
		link := d.url(s)
		if k := strings.IndexAny(link, "?#"); k >= 0 {
			link = link[:k]
		}
		return S4BData{User: user, ID: id, Domain: strings.TrimPrefix(s.host, "meet."), ConferenceID: s4bConferenceID(d, s.end), URL: link}, s.start, false
	}
	return S4BData{}, -1, false
}

// s4bConferenceID reads the dial-in "<label>: <digits>" line (any language) among the ten
// lines after the meeting link.
func s4bConferenceID(d *doc, from int) string {
	text := d.text[from:min(len(d.text), from+1200)]
	for i := 0; i < 10 && text != ""; i++ {
		line := text
		if k := strings.IndexByte(text, '\n'); k >= 0 {
			line, text = text[:k], text[k+1:]
		} else {
			text = ""
		}
		if v, ok := labelledDigits(line, 4, 12); ok {
			return v
		}
	}
	return ""
}

// evalS4B is Pexip's s4b: the meeting's parts through the rule's template (default
// DefaultS4BTemplate), for a gateway that joins Skype for Business Server meetings.
func evalS4B(c *evalCtx, r *rule) (match, string) {
	m, pos, retired := s4bMeeting(c.d)
	if retired {
		return match{}, "Skype for Business Online meeting: the service was retired on 31 July 2021, the link no longer works"
	}
	if pos < 0 || r.tmpl == nil {
		return match{}, ""
	}
	m.Gateway = r.domain
	out, err := execAny(r.tmpl, &m)
	what := "Skype for Business meeting " + m.ID + " of " + m.User + "@" + m.Domain
	switch {
	case err != nil:
		return match{}, what + ": the template failed: " + strings.TrimPrefix(err.Error(), "template: ")
	case out == "":
		return match{}, what + ": the template gave no address"
	case strings.ContainsAny(out, " \t\r\n"):
		return match{}, what + ": the template's output is not one address (it contains white space)"
	case strings.HasPrefix(out, "@") || strings.HasSuffix(out, "@") || strings.HasSuffix(out, ".") || strings.Contains(out, "..") || strings.Contains(out, ".@") || strings.Contains(out, "@."):
		msg := what + ": the template left a part of " + out + " empty"
		if m.ConferenceID == "" {
			msg += " (no dial-in conference ID is printed)"
		}
		if m.Gateway == "" {
			msg += " (this rule has no domain)"
		}
		return match{}, msg
	}
	how := "template"
	if r.spec.Template == "" {
		how = "the default template " + DefaultS4BTemplate
	}
	return match{number: stripScheme(out, "SIP"), protocol: "SIP", platform: "Other", pos: pos, note: what + ", alias from " + how}, ""
}

// ---- pexipservice ----

// isPexipServiceDomain reports Pexip Service's own domains (<company>.onpexip.com, pexip.me).
func isPexipServiceDomain(dom string) bool {
	return hostIs(dom, "onpexip.com") || hostIs(dom, "pexip.me")
}

// evalPexipService is Pexip's pexipservice: a VMR alias on the Pexip Service, from a pexip://
// link or printed, at <company>.onpexip.com, pexip.me, or the rule's domain (a domain the
// service hosts for the company). Teams CVI tenant keys and Google Meet interop IDs at those
// domains are the teams and google_meet rules' business.
func evalPexipService(c *evalCtx, r *rule) (match, string) {
	d := c.d
	hasMeet := false
	for _, s := range d.urls {
		if _, ok := meetCode(s); ok {
			hasMeet = true
		}
	}
	ours := func(dom string) bool { return isPexipServiceDomain(dom) || r.domain != "" && dom == r.domain }
	for _, s := range d.urls {
		if s.host != "" { // pexip://<alias>
			continue
		}
		alias, ok := pexipAlias(d, s)
		if !ok {
			continue
		}
		local, dom, at := strings.Cut(alias, "@")
		dom = lowerASCII(dom)
		switch {
		case at && ours(dom):
			return match{number: local + "@" + dom, protocol: "SIP", platform: "Other", pos: s.start, note: "Pexip Service VMR (pexip:// link)"}, ""
		case !at && r.domain != "":
			return match{number: alias + "@" + r.domain, protocol: "SIP", platform: "Other", pos: s.start, note: "Pexip Service VMR (pexip:// link; bare alias at this rule's domain)"}, ""
		}
	}
	for _, a := range d.addrs {
		if a.inURL || a.scheme == "mailto" {
			continue
		}
		local, dom := d.local(a), lowerASCII(d.domain(a))
		if !ours(dom) || strings.HasPrefix(dom, "gmeet.") || c.isPerson(d.address(a)) {
			continue
		}
		if strings.EqualFold(local, "teams") || len(local) > 6 && strings.EqualFold(local[len(local)-6:], ".teams") {
			continue // a Teams CVI tenant key
		}
		if hasMeet && isDigits(local) {
			continue // a Google Meet interop address
		}
		return match{number: local + "@" + dom, protocol: "SIP", platform: "Other", pos: a.start, note: "Pexip Service VMR address"}, ""
	}
	return match{}, ""
}
