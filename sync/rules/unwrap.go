package rules

import (
	"encoding/base64"
	"html"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Link rewriters. Mail security gateways replace every link in a message with one to their
// own service that carries the original; for OTJ that would hide the Teams, Zoom or Webex
// link from the rules. Each one encodes the original differently (README "Meeting processing rules").
// Mimecast keeps the original on its servers only, so it cannot be decoded offline.

type wrapper uint8

const (
	wrapNone wrapper = iota
	wrapSafeLinks
	wrapProofpoint
	wrapBarracuda
	wrapCiscoSecure
	wrapGoogle
	wrapTeamsLauncher
	wrapMimecast
)

func (w wrapper) String() string {
	switch w {
	case wrapSafeLinks:
		return "Microsoft Defender Safe Links"
	case wrapProofpoint:
		return "Proofpoint URL Defense"
	case wrapBarracuda:
		return "Barracuda Link Protection"
	case wrapCiscoSecure:
		return "Cisco Secure Email"
	case wrapGoogle:
		return "a Google redirect"
	case wrapTeamsLauncher:
		return "the Teams launcher"
	case wrapMimecast:
		return "Mimecast URL Protect"
	}
	return ""
}

// maxUnwrap bounds nested rewriting (a Proofpoint link inside Safe Links, …).
const maxUnwrap = 5

// splitURL returns the lower-cased host of an absolute http(s) URL and what follows it (path,
// query, fragment). ok is false for anything else.
func splitURL(u string) (host, rest string, ok bool) {
	k := strings.Index(u, "://")
	if k < 4 || k > 5 {
		return "", "", false
	}
	if !strings.EqualFold(u[:k], "https") && !strings.EqualFold(u[:k], "http") {
		return "", "", false
	}
	h := u[k+3:]
	end := strings.IndexAny(h, "/?#")
	if end < 0 {
		end = len(h)
	}
	host, rest = h[:end], h[end:]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 && !strings.Contains(host, "]") {
		host = host[:c]
	}
	return lowerASCII(host), rest, true
}

// lowerASCII lower-cases ASCII letters, without allocating when there are none upper-case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// hostIs reports whether host is domain or one of its subdomains.
func hostIs(host, domain string) bool {
	return host == domain || len(host) > len(domain) && strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.'
}

// wrapperOf names the rewriter of u (wrapNone when u is not rewritten).
func wrapperOf(u string) wrapper {
	host, rest, ok := splitURL(u)
	if !ok {
		return wrapNone
	}
	switch {
	case strings.HasSuffix(host, ".safelinks.protection.outlook.com"),
		strings.HasSuffix(host, ".safelinks.protection.office365.us"),
		strings.HasSuffix(host, ".safelinks.protection.outlook.cn"),
		host == "statics.teams.cdn.office.net" && strings.Contains(rest, "/safelinks/"),
		host == "outlook.office.com" && strings.HasPrefix(rest, "/mail/safelink.html"):
		return wrapSafeLinks
	case host == "urldefense.proofpoint.com" || host == "urldefense.com":
		return wrapProofpoint
	case host == "linkprotect.cudasvc.com":
		return wrapBarracuda
	case host == "secure-web.cisco.com":
		return wrapCiscoSecure
	case (host == "www.google.com" || host == "google.com") && strings.HasPrefix(rest, "/url?"):
		return wrapGoogle
	case (hostIs(host, "teams.microsoft.com") || hostIs(host, "teams.microsoft.us")) && strings.HasPrefix(rest, "/dl/launcher/launcher.html"):
		return wrapTeamsLauncher
	case strings.HasPrefix(host, "protect") && strings.HasSuffix(host, ".mimecast.com"),
		hostIs(host, "mimecastprotect.com"):
		return wrapMimecast
	}
	return wrapNone
}

// unwrap returns the original of a rewritten link, following nested rewriters. ok is false
// when u is not rewritten or cannot be decoded (Mimecast).
func unwrap(u string) (string, bool) {
	orig := u
	for range maxUnwrap {
		w := wrapperOf(u)
		if w == wrapNone || w == wrapMimecast {
			break
		}
		next, ok := unwrapOnce(w, u)
		if !ok || next == u {
			break
		}
		u = next
	}
	return u, u != orig
}

// unwrapOnce removes one layer of rewriting.
func unwrapOnce(w wrapper, u string) (string, bool) {
	var out string
	switch w {
	case wrapSafeLinks:
		out = queryValue(u, "url")
	case wrapBarracuda:
		out = queryValue(u, "a")
	case wrapGoogle:
		if out = queryValue(u, "q"); out == "" {
			out = queryValue(u, "url")
		}
	case wrapCiscoSecure:
		_, rest, _ := splitURL(u)
		if q := strings.IndexAny(rest, "?#"); q >= 0 {
			rest = rest[:q]
		}
		seg := rest[strings.LastIndexByte(rest, '/')+1:]
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", false
		}
		out = dec
	case wrapProofpoint:
		out = unwrapProofpoint(u)
	case wrapTeamsLauncher:
		host, _, _ := splitURL(u)
		p := queryValue(u, "url")
		if p == "" || p[0] != '/' {
			return "", false
		}
		out = "https://" + host + canonicalTeamsPath(strings.Replace(p, "/_#", "", 1))
	}
	if _, _, ok := splitURL(out); !ok {
		return "", false
	}
	return out, true
}

// canonicalTeamsPath escapes the ':' and '@' of a decoded meetup-join path the way Teams
// writes them (19%3ameeting_…%40thread.v2), so the link matches Graph's joinUrl.
func canonicalTeamsPath(p string) string {
	path, query, hasQuery := strings.Cut(p, "?")
	path = strings.NewReplacer(":", "%3a", "@", "%40").Replace(path)
	if hasQuery {
		return path + "?" + query
	}
	return path
}

// queryValue returns the decoded value of the first query parameter key of u ("" if absent).
func queryValue(u, key string) string {
	raw, ok := rawQueryValue(u, key)
	if !ok {
		return ""
	}
	v, err := url.QueryUnescape(raw)
	if err != nil {
		return ""
	}
	return v
}

// rawQueryValue returns the still-encoded value of query parameter key. The query starts at
// the first '?'; parameters are separated by '&' (and '#' ends them).
func rawQueryValue(u, key string) (string, bool) {
	q := strings.IndexByte(u, '?')
	if q < 0 {
		return "", false
	}
	s := u[q+1:]
	for len(s) > 0 {
		end := strings.IndexAny(s, "&#")
		param := s
		if end >= 0 {
			param = s[:end]
		}
		if len(param) > len(key) && param[len(key)] == '=' && strings.EqualFold(param[:len(key)], key) {
			return param[len(key)+1:], true
		}
		if end < 0 || s[end] == '#' {
			break
		}
		s = s[end+1:]
	}
	return "", false
}

// unwrapProofpoint decodes Proofpoint URL Defense v1, v2 and v3 links, following the
// algorithm of Proofpoint's own decoder (README "Meeting processing rules").
func unwrapProofpoint(u string) string {
	_, rest, _ := splitURL(u)
	switch {
	case strings.HasPrefix(rest, "/v1/"):
		raw, ok := rawQueryValue(u, "u")
		if !ok {
			return ""
		}
		if k := strings.Index(raw, "&k="); k >= 0 {
			raw = raw[:k]
		}
		dec, err := url.QueryUnescape(raw)
		if err != nil {
			return ""
		}
		return html.UnescapeString(dec)
	case strings.HasPrefix(rest, "/v2/"):
		raw, ok := rawQueryValue(u, "u")
		if !ok {
			return ""
		}
		r := strings.NewReplacer("-", "%", "_", "/")
		dec, err := url.PathUnescape(r.Replace(raw))
		if err != nil {
			return ""
		}
		return html.UnescapeString(dec)
	case strings.HasPrefix(rest, "/v3/__"):
		body := rest[len("/v3/__"):]
		end := strings.Index(body, "__;")
		if end < 0 {
			return ""
		}
		enc := body[end+3:]
		if bang := strings.IndexByte(enc, '!'); bang >= 0 {
			enc = enc[:bang]
		}
		text, err := url.PathUnescape(body[:end])
		if err != nil {
			text = body[:end]
		}
		if !strings.Contains(text, "*") {
			return text
		}
		cut, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
		if err != nil {
			return ""
		}
		return proofpointV3Replace(text, string(cut))
	}
	return ""
}

// proofpointV3Alphabet gives run lengths: "**X" stands for 2+index(X) cut characters.
const proofpointV3Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// proofpointV3Replace puts back the characters Proofpoint cut out of a v3 URL: "*" is the next
// one, "**X" the next 2+index(X).
func proofpointV3Replace(text, cut string) string {
	var b strings.Builder
	b.Grow(len(text) + len(cut))
	take := func(n int) bool {
		for ; n > 0; n-- {
			if cut == "" {
				return false
			}
			_, size := utf8.DecodeRuneInString(cut)
			b.WriteString(cut[:size])
			cut = cut[size:]
		}
		return true
	}
	for i := 0; i < len(text); i++ {
		if text[i] != '*' {
			b.WriteByte(text[i])
			continue
		}
		if i+2 < len(text) && text[i+1] == '*' {
			if k := strings.IndexByte(proofpointV3Alphabet, text[i+2]); k >= 0 {
				if !take(2 + k) {
					return ""
				}
				i += 2
				continue
			}
		}
		if !take(1) {
			return ""
		}
	}
	return b.String()
}

// mimecastHost is the host a Mimecast link names in its domain= parameter ("" when none).
func mimecastHost(u string) string {
	d := queryValue(u, "domain")
	if len(d) > 253 || strings.ContainsAny(d, " /<>\"") {
		return ""
	}
	return lowerASCII(d)
}
