package rules

import "strings"

// The fallback rule: the first sip:, sips: or h323: address in the invite that is not a
// person's (isPerson: the organizer's or an attendee's presence address).

// isPerson reports whether addr is the organizer's or an attendee's mail address.
func (c *evalCtx) isPerson(addr string) bool {
	if addr == "" {
		return false
	}
	if strings.EqualFold(addr, c.ev.OrganizerAddress()) {
		return true
	}
	for _, a := range c.ev.Attendees {
		if strings.EqualFold(addr, a.EmailAddress.Address) {
			return true
		}
	}
	return false
}

// ---- the fallback: any sip:, sips: or h323: address ----

// fallback finds the first sip:, sips: or h323: URI in the location or body (Pexip's
// unconditional fallback).
func fallback(c *evalCtx) match {
	d := c.d
	text := d.text
	skippedPerson := false
	defer func() {
		if skippedPerson {
			c.personSkipped = true
		}
	}()
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], ':')
		if k < 0 {
			break
		}
		p := i + k
		i = p + 1
		proto := ""
		scheme := ""
		switch {
		case hasSchemeBefore(text, p+1, "sip:"):
			proto, scheme = "SIP", "sip:"
		case hasSchemeBefore(text, p+1, "sips:"):
			proto, scheme = "SIP", "sips:"
		case hasSchemeBefore(text, p+1, "h323:"):
			proto, scheme = "H323", "h323:"
		default:
			continue
		}
		e := p + 1
		for e < len(text) && e-p < 256 && isURLChar(text[e]) && text[e] != ';' && text[e] != '?' {
			e++
		}
		n := text[p+1 : trimURLEnd(text, p+1, e)]
		if n == "" || n[0] == '/' || badNumber(n) != "" {
			continue
		}
		if proto == "SIP" && c.isPerson(n) {
			// "sip:jane@contoso.com" in a signature is the organizer's (or an attendee's)
			// Skype/Teams presence address, not a meeting.
			skippedPerson = true
			continue
		}
		where := "body"
		if p < d.locEnd {
			where = "location"
		}
		platform := "Other"
		if proto == "SIP" {
			platform = platformOf(n)
		}
		return match{number: n, protocol: proto, platform: platform, pos: p + 1 - len(scheme),
			note: "fallback: " + scheme + " address in the " + where}
	}
	return match{}
}

func evalFallbackRule(c *evalCtx, r *rule) (match, string) {
	m := fallback(c)
	return m, ""
}
