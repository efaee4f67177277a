package rules

import (
	"slices"
	"strings"
)

// The rule types an administrator writes: a mail domain, a regular expression, a template.
// custom completes their match with the rule's protocol and platform.

// evalDomain takes the first sip:, sips:, h323: or bare user@host address at one of the rule's
// domains (exactly; a subdomain is another domain). An h323: address is dialled as H.323
// unless the rule sets protocol.
func evalDomain(c *evalCtx, r *rule) (match, string) {
	d := c.d
	for _, a := range d.addrs {
		if a.inURL || a.scheme == "mailto" {
			continue
		}
		dom := lowerASCII(d.domain(a))
		if !slices.Contains(r.domains, dom) || c.isPerson(d.address(a)) {
			continue
		}
		how := "address at " + dom
		if a.scheme == "h323" {
			how = "h323: " + how
		}
		m, note := custom(r, d.local(a)+"@"+dom, a.start, how)
		if m.number != "" && a.scheme == "h323" && r.spec.Protocol == "" {
			m.protocol = "H323"
		}
		return m, note
	}
	return match{}, ""
}

func evalRegex(c *evalCtx, r *rule) (match, string) {
	if r.re == nil {
		return match{}, ""
	}
	d := c.d
	loc := r.re.FindStringSubmatchIndex(d.text)
	if loc == nil {
		return match{}, ""
	}
	var n string
	if r.spec.Replace != "" {
		n = string(r.re.ExpandString(nil, r.spec.Replace, d.text, loc))
	} else {
		n = d.text[loc[0]:loc[1]]
	}
	n = strings.TrimSpace(n)
	if n == "" {
		return match{}, "the expression matched but the replacement is empty"
	}
	return custom(r, n, loc[0], "regular expression")
}

func evalTemplate(c *evalCtx, r *rule) (match, string) {
	if r.tmpl == nil {
		return match{}, ""
	}
	out, err := execTemplate(r.tmpl, c.templateData())
	if err != nil {
		return match{}, "template failed: " + strings.TrimPrefix(err.Error(), "template: ")
	}
	if out == "" {
		return match{}, ""
	}
	if strings.ContainsAny(out, " \t\r\n") {
		return match{}, "the template's output is not one address (it contains white space)"
	}
	return custom(r, out, c.d.joinEnd, "template")
}

// custom completes a domain, regex or template match with the rule's protocol and platform:
// by default SIP, and the platform the address belongs to.
func custom(r *rule, number string, pos int, how string) (match, string) {
	proto := r.spec.Protocol
	if proto == "" {
		proto = "SIP"
		if _, _, ok := splitURL(number); ok {
			proto = "WebRTC"
		}
	}
	number = stripScheme(number, proto)
	if bad := badNumber(number); bad != "" {
		return match{}, bad
	}
	platform := r.spec.Platform
	if platform == "" {
		platform = platformOf(number)
	}
	return match{number: number, protocol: proto, platform: platform, pos: pos, note: how}, ""
}

// stripScheme removes a sip:/sips:/h323: prefix: codecs take the bare URI.
func stripScheme(n, proto string) string {
	for _, p := range []string{"sip:", "sips:", "h323:"} {
		if hasPrefixFold(n, p) && (proto == "SIP" || proto == "H323" || proto == "Spark") {
			return n[len(p):]
		}
	}
	return n
}
