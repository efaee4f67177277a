package rules

import (
	"bytes"
	"html"
	"strings"
	"unicode/utf8"
)

// The normaliser turns an invite body (HTML as Graph returns it, or plain text) into text the
// matchers can read: block elements end lines, table cells are separated by a space, runs of
// white space collapse, entities are decoded, and each link's target is written inline after
// the anchor text as " <URL>" (Outlook's original URL when it kept one in originalsrc, else the
// href with link rewriters removed). It is one forward pass over the input with no
// backtracking, so its cost is linear in the input whatever the input is: every loop below
// consumes at least one byte per step and never revisits one.

// textBuilder accumulates normalised text. White space is held back as "pending" and only
// written before the next visible character, so lines never start or end with spaces and
// blank lines never pile up.
type textBuilder struct {
	buf          []byte
	pendingSpace bool
	pendingNL    bool
	pre          int // depth of <pre>: newlines in text are kept

	// Found while writing links.
	wrapped  []wrappedLink // links that arrived rewritten and were unwrapped
	mimecast []string      // hosts named by Mimecast-protected links ("" when unnamed)
	hasTel   bool          // a tel: link (phone dial-in) was seen
}

// wrappedLink records that url reached us rewritten by wrapper.
type wrappedLink struct {
	url     string
	wrapper wrapper
}

func (b *textBuilder) reset() {
	b.buf = b.buf[:0]
	b.pendingSpace, b.pendingNL = false, false
	b.pre = 0
	b.wrapped = b.wrapped[:0]
	b.mimecast = b.mimecast[:0]
	b.hasTel = false
}

// newline ends the current line (a block boundary).
func (b *textBuilder) newline() { b.pendingNL = true }

// space separates what follows from what came before (a table cell boundary).
func (b *textBuilder) space() { b.pendingSpace = true }

// hardBreak ends the current line now, for region boundaries.
func (b *textBuilder) hardBreak() {
	if n := len(b.buf); n > 0 && b.buf[n-1] != '\n' {
		b.buf = append(b.buf, '\n')
	}
	b.pendingNL, b.pendingSpace = false, false
}

// flush writes pending white space before a visible character.
func (b *textBuilder) flush() {
	n := len(b.buf)
	switch {
	case b.pendingNL:
		if n > 0 && b.buf[n-1] != '\n' {
			b.buf = append(b.buf, '\n')
		}
	case b.pendingSpace:
		if n > 0 && b.buf[n-1] != '\n' && b.buf[n-1] != ' ' {
			b.buf = append(b.buf, ' ')
		}
	}
	b.pendingNL, b.pendingSpace = false, false
}

// textClass marks the bytes writeText must look at; everything else is copied as is.
var textClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\r\f\v") {
		t[c] = 1
	}
	t['&'] = 2
	for c := 0x80; c < 0x100; c++ {
		t[c] = 3
	}
	for c := 0; c < 0x20; c++ {
		if t[c] == 0 {
			t[c] = 4 // other control characters are dropped
		}
	}
	t[0x7f] = 4
	return
}()

// writeText appends visible text, collapsing white space. In HTML mode entities are decoded
// and a line break is just white space; in plain text a line break ends the line.
func (b *textBuilder) writeText(s string, htmlMode bool) {
	for i := 0; i < len(s); {
		// Copy the longest run of ordinary bytes in one go.
		j := i
		for j < len(s) && textClass[s[j]] == 0 {
			j++
		}
		if j > i {
			b.flush()
			b.buf = append(b.buf, s[i:j]...)
			i = j
			continue
		}
		c := s[i]
		switch textClass[c] {
		case 1:
			if c == '\n' && b.pre > 0 {
				b.pendingNL = true
			} else if c == '\n' && !htmlMode {
				// Plain text: a line break is a line break.
				b.pendingNL = true
			} else {
				b.pendingSpace = true
			}
			i++
		case 2:
			if !htmlMode {
				b.flush()
				b.buf = append(b.buf, '&')
				i++
				continue
			}
			r, n := decodeEntity(s[i:])
			if n == 0 {
				b.flush()
				b.buf = append(b.buf, '&')
				i++
				continue
			}
			b.writeRune(r)
			i += n
		case 3:
			r, n := utf8.DecodeRuneInString(s[i:])
			b.writeRune(r)
			i += n
		default:
			i++
		}
	}
}

// writeRune appends one decoded character, mapping no-break spaces to spaces and dropping
// zero-width characters (Outlook sprinkles both through invites).
func (b *textBuilder) writeRune(r rune) {
	switch r {
	case ' ', '\t', '\r', '\f', '\v', 0xa0, 0x2002, 0x2003, 0x2009, 0x202f, 0x3000:
		b.pendingSpace = true
	case '\n':
		if b.pre > 0 {
			b.pendingNL = true
		} else {
			b.pendingSpace = true
		}
	case 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0xad, utf8.RuneError:
	default:
		if r < 0x20 || r == 0x7f {
			return
		}
		b.flush()
		b.buf = utf8.AppendRune(b.buf, r)
	}
}

// commonEntities are decoded without a call into html (Outlook bodies are full of them).
var commonEntities = map[string]rune{
	"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\'', "nbsp": 0xa0,
	"#39": '\'', "#160": 0xa0, "#8203": 0x200b, "#x200B": 0x200b, "#xa0": 0xa0,
}

// decodeEntity decodes the character reference at the start of s ("&amp;", "&#64;",
// "&#x40;", any HTML5 name) and returns it and its length; n is 0 when s does not start with
// one, and the & is then literal text.
func decodeEntity(s string) (r rune, n int) {
	end := -1
	for k := 1; k < len(s) && k <= 33; k++ {
		c := s[k]
		if c == ';' {
			end = k
			break
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '#') {
			break
		}
	}
	if end < 2 {
		return 0, 0
	}
	name := s[1:end]
	if r, ok := commonEntities[name]; ok {
		return r, end + 1
	}
	if name[0] == '#' {
		var v rune
		digits := name[1:]
		base := rune(10)
		if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
			base, digits = 16, digits[1:]
		}
		if digits == "" || len(digits) > 8 {
			return 0, 0
		}
		for k := 0; k < len(digits); k++ {
			d := rune(digits[k])
			switch {
			case d >= '0' && d <= '9':
				d -= '0'
			case base == 16 && d >= 'a' && d <= 'f':
				d -= 'a' - 10
			case base == 16 && d >= 'A' && d <= 'F':
				d -= 'A' - 10
			default:
				return 0, 0
			}
			v = v*base + d
		}
		if v == 0 || v > utf8.MaxRune || (v >= 0xd800 && v <= 0xdfff) {
			v = utf8.RuneError
		}
		return v, end + 1
	}
	dec := html.UnescapeString(s[:end+1])
	if dec == s[:end+1] {
		return 0, 0
	}
	r, size := utf8.DecodeRuneInString(dec)
	if size != len(dec) { // a name that decodes to two characters: keep the first
		return r, end + 1
	}
	return r, end + 1
}

// decodeAttr decodes entities in an attribute value.
func decodeAttr(v string) string {
	if strings.IndexByte(v, '&') < 0 {
		return v
	}
	return html.UnescapeString(v)
}

// tagKind says what a tag does to the text.
type tagKind uint8

const (
	tagInline tagKind = iota
	tagBlock          // ends a line
	tagCell           // separates cells with a space
	tagBreak          // <br>: ends a line (start tag only)
	tagAnchor         // <a>
	tagRaw            // <script>, <style>, <title>…: content is not text
	tagHead           // <head>: nothing until </head> or <body>
	tagBody
	tagPre
)

// classifyTag maps a lower-cased tag name to its kind.
func classifyTag(name string) tagKind {
	switch name {
	case "a":
		return tagAnchor
	case "br":
		return tagBreak
	case "p", "div", "tr", "li", "ul", "ol", "table", "tbody", "thead", "tfoot", "h1", "h2", "h3", "h4",
		"h5", "h6", "hr", "blockquote", "section", "article", "header", "footer", "address", "dl", "dt",
		"dd", "center", "form", "fieldset", "figure", "figcaption", "main", "nav", "aside", "caption",
		"html", "details", "summary", "legend", "option", "menu":
		return tagBlock
	case "td", "th":
		return tagCell
	case "script", "style", "title", "textarea", "xmp", "noscript", "template", "iframe", "object", "svg", "xml":
		return tagRaw
	case "head":
		return tagHead
	case "body":
		return tagBody
	case "pre", "listing", "plaintext":
		return tagPre
	}
	return tagInline
}

// anchorState is the <a> being written.
type anchorState struct {
	open   bool
	start  int    // len(buf) when the anchor opened: buf[start:] is its visible text
	target string // decoded originalsrc or href
	href   string // decoded href (to detect the rewriter when originalsrc is set)
}

// writeHTML appends the text of an HTML document or fragment.
func (b *textBuilder) writeHTML(src string) {
	var a anchorState
	inHead := false
	i := 0
	for i < len(src) {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			lt = len(src) - i
		}
		if lt > 0 {
			if inHead && strings.TrimSpace(src[i:i+lt]) != "" {
				inHead = false // text ends a head that was never closed (as in a browser)
			}
			if !inHead {
				b.writeText(src[i:i+lt], true)
			}
		}
		i += lt
		if i >= len(src) {
			break
		}
		// src[i] == '<'
		if i+1 >= len(src) {
			if !inHead {
				b.writeText("<", false)
			}
			i++
			break
		}
		c := src[i+1]
		switch {
		case c == '!':
			if strings.HasPrefix(src[i:], "<!--") {
				end := strings.Index(src[i+4:], "-->")
				if end < 0 {
					i = len(src)
				} else {
					i += 4 + end + 3
				}
			} else {
				i = skipPast(src, i+2, '>')
			}
		case c == '?':
			i = skipPast(src, i+2, '>')
		case c == '/':
			name, j := tagName(src, i+2)
			i = skipPast(src, j, '>')
			switch classifyTag(name) {
			case tagAnchor:
				b.closeAnchor(&a)
			case tagBlock, tagBreak:
				b.newline()
			case tagCell:
				b.space()
			case tagHead:
				inHead = false
			case tagPre:
				if b.pre > 0 {
					b.pre--
				}
				b.newline()
			}
		case isASCIILetter(c):
			name, j := tagName(src, i+1)
			kind := classifyTag(name)
			if kind == tagAnchor {
				b.closeAnchor(&a)
				var href, orig string
				i = scanAttrs(src, j, func(k, v string) {
					switch {
					case strings.EqualFold(k, "href"):
						href = v
					case strings.EqualFold(k, "originalsrc"):
						orig = v
					}
				})
				if !inHead {
					href = strings.TrimSpace(decodeAttr(href))
					orig = strings.TrimSpace(decodeAttr(orig))
					a = anchorState{open: true, start: len(b.buf), target: href, href: href}
					if orig != "" {
						a.target = orig
					}
				}
				continue
			}
			i = scanAttrs(src, j, nil)
			if inHead && kind != tagBody {
				if kind == tagRaw {
					i = skipRaw(src, i, name)
				}
				if headElement(name) {
					continue
				}
				inHead = false // a body element ends a head that was never closed
			}
			switch kind {
			case tagBlock, tagBreak:
				b.newline()
			case tagCell:
				b.space()
			case tagRaw:
				i = skipRaw(src, i, name)
			case tagHead:
				inHead = true
			case tagBody:
				inHead = false
				b.newline()
			case tagPre:
				b.pre++
				b.newline()
			}
		default:
			// A "<" that starts no tag is text.
			if !inHead {
				b.writeText("<", false)
			}
			i++
		}
	}
	b.closeAnchor(&a)
}

// headElement reports the elements that may stand in <head> (Office adds its own, o:…).
func headElement(name string) bool {
	switch name {
	case "meta", "link", "base", "title", "style", "script", "noscript", "template", "xml", "head", "":
		return true
	}
	return strings.HasPrefix(name, "o:") || strings.HasPrefix(name, "w:") || strings.HasPrefix(name, "m:")
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// tagName reads a tag name at i and returns it lower-cased (only for names the classifier
// knows, which are short; longer names come back as "") and the index after it.
func tagName(src string, i int) (string, int) {
	start := i
	for i < len(src) {
		c := src[i]
		if isASCIILetter(c) || c >= '0' && c <= '9' || c == ':' || c == '-' || c == '_' {
			i++
			continue
		}
		break
	}
	n := src[start:i]
	if len(n) > 10 {
		return "", i
	}
	for k := 0; k < len(n); k++ {
		if n[k] >= 'A' && n[k] <= 'Z' {
			return strings.ToLower(n), i // rare: Outlook writes lower case
		}
	}
	return n, i
}

// skipPast returns the index after the first c at or after i (len(src) when there is none).
func skipPast(src string, i int, c byte) int {
	if i >= len(src) {
		return len(src)
	}
	k := strings.IndexByte(src[i:], c)
	if k < 0 {
		return len(src)
	}
	return i + k + 1
}

// scanAttrs reads the attributes of a start tag from i to the closing '>' and returns the
// index after it. A quoted value may contain '>'. attr, when set, receives each attribute.
func scanAttrs(src string, i int, attr func(name, value string)) int {
	for i < len(src) {
		c := src[i]
		switch c {
		case '>':
			return i + 1
		case ' ', '\t', '\n', '\r', '\f', '/':
			i++
			continue
		}
		// Attribute name.
		ns := i
		for i < len(src) {
			c = src[i]
			if c == '=' && i > ns || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '>' || c == '/' && i > ns {
				break
			}
			i++
		}
		name := src[ns:i]
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= len(src) || src[i] != '=' {
			if attr != nil {
				attr(name, "")
			}
			continue
		}
		i++ // '='
		for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
			i++
		}
		if i >= len(src) {
			return len(src)
		}
		var value string
		if q := src[i]; q == '"' || q == '\'' {
			k := strings.IndexByte(src[i+1:], q)
			if k < 0 {
				return len(src)
			}
			value = src[i+1 : i+1+k]
			i += k + 2
		} else {
			vs := i
			for i < len(src) && src[i] != '>' && src[i] != ' ' && src[i] != '\t' && src[i] != '\n' && src[i] != '\r' {
				i++
			}
			value = src[vs:i]
		}
		if attr != nil {
			attr(name, value)
		}
	}
	return len(src)
}

// skipRaw skips the content of a raw-text element up to and including its end tag.
func skipRaw(src string, i int, name string) int {
	for i < len(src) {
		k := strings.IndexByte(src[i:], '<')
		if k < 0 {
			return len(src)
		}
		i += k
		if i+2+len(name) <= len(src) && src[i+1] == '/' && strings.EqualFold(src[i+2:i+2+len(name)], name) {
			return skipPast(src, i+2+len(name), '>')
		}
		i++
	}
	return len(src)
}

// closeAnchor writes the open anchor's target after its text, unless the text already shows it.
func (b *textBuilder) closeAnchor(a *anchorState) {
	if !a.open {
		return
	}
	a.open = false
	t := a.target
	if t == "" || t[0] == '#' {
		return
	}
	scheme := ""
	if k := strings.IndexByte(t, ':'); k > 0 && k < 12 {
		scheme = lowerASCII(t[:k])
	}
	switch scheme {
	case "tel", "callto", "javascript", "data", "cid", "file", "about":
		if scheme == "tel" || scheme == "callto" {
			b.hasTel = true
		}
		return
	case "mailto":
		addr := t[len("mailto:"):]
		if k := strings.IndexByte(addr, '?'); k >= 0 {
			addr = addr[:k]
		}
		if addr == "" || bytes.Contains(b.buf[a.start:], []byte(addr)) {
			return
		}
		b.emitLink("mailto:" + addr)
		return
	case "http", "https":
		if w := wrapperOf(a.href); w != wrapNone {
			if w == wrapMimecast {
				b.mimecast = append(b.mimecast, mimecastHost(a.href))
			} else if t == a.href {
				if u, ok := unwrap(t); ok {
					t = u
				}
			}
			if t != a.href {
				b.wrapped = append(b.wrapped, wrappedLink{url: t, wrapper: w})
			}
		} else if u, ok := unwrap(t); ok { // e.g. a Teams launcher or Google redirect
			t = u
		}
	}
	if len(t) > maxURLLen || bytes.Contains(b.buf[a.start:], []byte(t)) {
		return
	}
	b.emitLink(t)
}

// maxURLLen bounds the links written inline; longer ones are not join links.
const maxURLLen = 8192

func (b *textBuilder) emitLink(t string) {
	b.flush()
	if n := len(b.buf); n > 0 && b.buf[n-1] != '\n' && b.buf[n-1] != ' ' {
		b.buf = append(b.buf, ' ')
	}
	b.buf = append(b.buf, '<')
	for k := 0; k < len(t); k++ {
		// A link is one token of printable ASCII: white space, controls and brackets are
		// dropped, other bytes percent-encoded (as a browser sends an IRI).
		switch c := t[k]; {
		case c >= 0x80:
			b.buf = append(b.buf, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		case c > ' ' && c < 0x7f && c != '<' && c != '>':
			b.buf = append(b.buf, c)
		}
	}
	b.buf = append(b.buf, '>')
}

// writePlain appends plain text: lines are kept, spaces collapse.
func (b *textBuilder) writePlain(s string) { b.writeText(s, false) }

// LooksLikeHTML reports whether raw text is HTML (for bodies whose content type is unknown).
func LooksLikeHTML(s string) bool {
	head := s
	if len(head) > 2048 {
		head = head[:2048]
	}
	head = strings.TrimSpace(head)
	if strings.HasPrefix(head, "<") {
		return true
	}
	lower := strings.ToLower(head)
	for _, t := range []string{"<html", "<body", "<div", "<p>", "<p ", "<br", "<span", "<table", "<a href"} {
		if strings.Contains(lower, t) {
			return true
		}
	}
	return false
}
