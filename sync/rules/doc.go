package rules

import (
	"strings"
	"sync"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// doc is an event prepared for matching: one text made of the location, the structured join
// URL and the normalised body (in that order, each starting on a new line), with an index of
// every URL and every user@host address in it. Positions are byte offsets into text, so
// "earlier in the invite" is a comparison of positions.
type doc struct {
	text    string
	locEnd  int // text[:locEnd] is the location
	joinEnd int // text[locEnd:joinEnd] is onlineMeeting.joinUrl / onlineMeetingUrl

	urls  []span // http(s):// and pexip:// URLs, in text order
	addrs []addr // local@domain tokens, in text order

	wrapped   []wrappedLink // links that arrived rewritten and were unwrapped
	mimecast  []string      // hosts behind Mimecast links ("" when unnamed)
	hasTel    bool          // a tel: link was seen
	truncated bool          // the body was longer than maxBodyBytes
	capped    bool          // more than maxIndexed URLs or addresses: the rest were not indexed
}

// maxIndexed bounds the URLs and addresses indexed per event. Invites have tens; the bound
// keeps the memory an absurd event takes proportional to its text alone.
const maxIndexed = 10000

// span is a URL in text.
type span struct {
	start, end int
	host       string // lower-cased ("" for pexip://)
	rest       string // path, query and fragment as written
	wrapper    wrapper
}

// addr is a local@domain token in text.
type addr struct {
	start, at, end int
	scheme         string // "sip", "sips", "h323", "mailto" or ""
	inURL          bool   // part of a URL (e.g. a decoded Teams thread id), not an address
}

func (d *doc) url(s span) string { return d.text[s.start:s.end] }

func (d *doc) local(a addr) string  { return d.text[a.start:a.at] }
func (d *doc) domain(a addr) string { return d.text[a.at+1 : a.end] }
func (d *doc) address(a addr) string {
	return d.text[a.start:a.end]
}

// inBody reports whether pos lies in the body.
func (d *doc) inBody(pos int) bool { return pos >= d.joinEnd }

// body is the normalised body text.
func (d *doc) body() string { return d.text[d.joinEnd:] }

// maxBodyBytes caps the body that is read. Graph bodies are a few KB (inline images can make
// them MBs); everything here is linear, and the cap only bounds the time one absurd event can
// take. A truncated body is said so in the reason.
const maxBodyBytes = 16 << 20

var builderPool = sync.Pool{New: func() any { return &textBuilder{buf: make([]byte, 0, 16<<10)} }}

// newDoc prepares ev for matching.
func newDoc(ev *calendar.Event, d *doc) {
	b := builderPool.Get().(*textBuilder)
	b.reset()
	if ev.Location != nil || len(ev.Locations) > 0 {
		b.writePlain(ev.LocationText())
	}
	b.hardBreak()
	d.locEnd = len(b.buf)
	if ev.OnlineMeeting != nil && ev.OnlineMeeting.JoinURL != "" {
		b.writePlain(ev.OnlineMeeting.JoinURL)
		b.hardBreak()
	}
	if ev.OnlineMeetingURL != "" && (ev.OnlineMeeting == nil || ev.OnlineMeetingURL != ev.OnlineMeeting.JoinURL) {
		b.writePlain(ev.OnlineMeetingURL)
		b.hardBreak()
	}
	d.joinEnd = len(b.buf)
	body := ev.BodyText()
	d.truncated = false
	if len(body) > maxBodyBytes {
		body, d.truncated = body[:maxBodyBytes], true
	}
	isHTML := ev.Body != nil && strings.EqualFold(ev.Body.ContentType, "html")
	if ev.Body != nil && ev.Body.ContentType == "" {
		isHTML = LooksLikeHTML(body)
	}
	if isHTML {
		b.writeHTML(body)
	} else {
		b.writePlain(body)
	}
	d.text = string(b.buf)
	d.wrapped = append(d.wrapped[:0], b.wrapped...)
	d.mimecast = append(d.mimecast[:0], b.mimecast...)
	d.hasTel = b.hasTel
	if cap(b.buf) <= 1<<20 { // do not keep huge buffers alive
		builderPool.Put(b)
	}
	d.index()
}

// index finds the URLs and addresses, unwrapping rewritten links that appear as text (plain
// text bodies, or a wrapped URL shown as anchor text).
func (d *doc) index() {
	d.urls = scanURLs(d.text, d.urls[:0])
	rewrite := false
	for i := range d.urls {
		if d.urls[i].wrapper != wrapNone {
			rewrite = true
			break
		}
	}
	if rewrite {
		d.unwrapText()
		d.urls = scanURLs(d.text, d.urls[:0])
	}
	d.addrs = scanAddrs(d.text, d.addrs[:0])
	d.capped = len(d.urls) >= maxIndexed || len(d.addrs) >= maxIndexed
	// Mark addresses that are part of a URL (both lists are in text order).
	u := 0
	for i := range d.addrs {
		a := &d.addrs[i]
		for u < len(d.urls) && d.urls[u].end <= a.start {
			u++
		}
		a.inURL = u < len(d.urls) && d.urls[u].start <= a.start
	}
}

// unwrapText replaces every rewritten URL in the text by its original and moves the region
// boundaries along.
func (d *doc) unwrapText() {
	var b strings.Builder
	b.Grow(len(d.text))
	last := 0
	locEnd, joinEnd := d.locEnd, d.joinEnd
	for _, s := range d.urls {
		if s.wrapper == wrapNone {
			continue
		}
		raw := d.url(s)
		if s.wrapper == wrapMimecast {
			d.mimecast = append(d.mimecast, mimecastHost(raw))
			continue
		}
		orig, ok := unwrap(raw)
		if !ok {
			continue
		}
		d.wrapped = append(d.wrapped, wrappedLink{url: orig, wrapper: s.wrapper})
		b.WriteString(d.text[last:s.start])
		b.WriteString(orig)
		last = s.end
		delta := len(orig) - (s.end - s.start)
		if s.end <= d.locEnd {
			locEnd += delta
		}
		if s.end <= d.joinEnd {
			joinEnd += delta
		}
	}
	if last == 0 {
		return
	}
	b.WriteString(d.text[last:])
	d.text, d.locEnd, d.joinEnd = b.String(), locEnd, joinEnd
}

// wrapperFor names the rewriter a link arrived behind (wrapNone when it came as is).
func (d *doc) wrapperFor(link string) wrapper {
	for _, w := range d.wrapped {
		if w.url == link {
			return w.wrapper
		}
	}
	return wrapNone
}

func isSchemeChar(c byte) bool { return isASCIILetter(c) }

// isURLChar reports the bytes a URL in text may contain (RFC 3986 plus the few that mail
// clients leave unescaped); a URL ends at white space, quotes, angle brackets and non-ASCII.
func isURLChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '"' && c != '`' && c != '{' && c != '}' && c != '|' && c != '\\' && c != '^'
}

// scanURLs appends the http(s):// and pexip:// URLs of text to out.
func scanURLs(text string, out []span) []span {
	i := 0
	for i < len(text) {
		k := strings.Index(text[i:], "://")
		if k < 0 {
			break
		}
		p := i + k
		s := p
		for s > i && p-s < 8 && isSchemeChar(text[s-1]) {
			s--
		}
		e := p + 3
		for e < len(text) && isURLChar(text[e]) {
			e++
		}
		e = trimURLEnd(text, s, e)
		scheme := text[s:p]
		switch {
		case e <= p+3:
		case strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http"):
			sp := span{start: s, end: e}
			sp.host, sp.rest, _ = splitURL(text[s:e])
			sp.wrapper = wrapperOf(text[s:e])
			out = append(out, sp)
		case strings.EqualFold(scheme, "pexip"):
			out = append(out, span{start: s, end: e, rest: text[p+3 : e]})
		}
		if e > p+3 {
			i = e
		} else {
			i = p + 3
		}
		if len(out) >= maxIndexed {
			break
		}
	}
	return out
}

// trimURLEnd drops punctuation that ends a sentence rather than the URL.
func trimURLEnd(text string, s, e int) int {
	for e > s {
		switch text[e-1] {
		case '.', ',', ';', ':', '!', '?', '\'', '"', ']', '}':
			e--
			continue
		case ')':
			if strings.IndexByte(text[s:e], '(') < 0 {
				e--
				continue
			}
		}
		break
	}
	return e
}

func isLocalChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+' || c == '%' || c == '='
}

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// scanAddrs appends the local@domain tokens of text to out. Each '@' is looked at once; the
// local part reaches back at most to the previous '@' and the domain forward at most to the
// next, so the scan is linear.
func scanAddrs(text string, out []addr) []addr {
	i := 0
	for i < len(text) {
		k := strings.IndexByte(text[i:], '@')
		if k < 0 {
			break
		}
		at := i + k
		s := at
		for s > i && at-s < 128 && isLocalChar(text[s-1]) {
			s--
		}
		for s < at && (text[s] == '.' || text[s] == '=') {
			s++
		}
		e := at + 1
		for e < len(text) && e-at <= 255 && isDomainChar(text[e]) {
			e++
		}
		for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
			e--
		}
		if s < at && e > at+1 && strings.IndexByte(text[at+1:e], '.') > 0 {
			a := addr{start: s, at: at, end: e}
			switch {
			case hasSchemeBefore(text, s, "sip:"):
				a.scheme = "sip"
			case hasSchemeBefore(text, s, "sips:"):
				a.scheme = "sips"
			case hasSchemeBefore(text, s, "h323:"):
				a.scheme = "h323"
			case hasSchemeBefore(text, s, "mailto:"):
				a.scheme = "mailto"
			}
			out = append(out, a)
			if len(out) >= maxIndexed {
				break
			}
		}
		i = at + 1
	}
	return out
}

// hasSchemeBefore reports whether text[:pos] ends with scheme (case-insensitive) that is not
// the tail of a longer word.
func hasSchemeBefore(text string, pos int, scheme string) bool {
	s := pos - len(scheme)
	if s < 0 || !strings.EqualFold(text[s:pos], scheme) {
		return false
	}
	return s == 0 || !isASCIILetter(text[s-1]) && !(text[s-1] >= '0' && text[s-1] <= '9')
}
