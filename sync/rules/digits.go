package rules

import "strings"

// Invites print IDs as digits grouped by spaces ("111 222 333 4", "812 3456 7890"), under
// labels in the organizer's language. The matchers anchor on these digit patterns (and on
// links and addresses), never on the label words.

// digitRun is a run of digits, possibly grouped by single spaces.
type digitRun struct {
	start, end int
	raw        string // the run as written, spaces included
	n          int    // how many digits
	plus       bool   // preceded by '+': a phone number
	hash       bool   // followed by '#': a PSTN conference ID
}

// digits returns the digits without spaces: a string, because IDs keep leading zeros.
func (r digitRun) digits() string {
	if r.n == len(r.raw) {
		return r.raw
	}
	return strings.ReplaceAll(r.raw, " ", "")
}

// is reports whether the run's digits are id, without building them.
func (r digitRun) is(id string) bool {
	if r.n != len(id) {
		return false
	}
	k := 0
	for i := 0; i < len(r.raw); i++ {
		if c := r.raw[i]; c != ' ' {
			if c != id[k] {
				return false
			}
			k++
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || isASCIILetter(c) }

// maxRunLen bounds a digit run; longer runs are not IDs (and the bound keeps scans linear).
const maxRunLen = 48

// nextDigitRun returns the first digit run starting in text[from:to] that stands alone (not
// glued to letters, not part of a dotted or @ token).
func nextDigitRun(text string, from, to int) (digitRun, bool) {
	if to > len(text) {
		to = len(text)
	}
	i := from
	for i < to {
		if !isDigit(text[i]) {
			i++
			continue
		}
		start := i
		end := i
		j := i
		for j < len(text) && j-start < maxRunLen {
			if isDigit(text[j]) {
				j++
				end = j
				continue
			}
			if text[j] == ' ' && j+1 < len(text) && isDigit(text[j+1]) {
				j++
				continue
			}
			break
		}
		i = j
		if start > 0 {
			p := text[start-1]
			if isAlnum(p) || p == '.' || p == '_' || p == '/' || p == '-' || p == '=' || p == '%' || p == '*' {
				continue
			}
		}
		if end < len(text) {
			n := text[end]
			if isAlnum(n) || n == '@' || n == '_' || n == '/' || (n == '.' || n == '-') && end+1 < len(text) && isDigit(text[end+1]) {
				continue
			}
		}
		r := digitRun{start: start, end: end, raw: text[start:end]}
		for k := start; k < end; k++ {
			if text[k] != ' ' {
				r.n++
			}
		}
		r.plus = start > 0 && text[start-1] == '+' || start > 1 && text[start-1] == ' ' && text[start-2] == '+'
		r.hash = end < len(text) && text[end] == '#' || end+1 < len(text) && text[end] == ' ' && text[end+1] == '#'
		return r, true
	}
	return digitRun{}, false
}

// idRun returns the first digit run in text[from:to] with between min and max digits that is
// not a phone number, not a PSTN ID and not inside a URL.
func (d *doc) idRun(from, to, min, max int) (digitRun, bool) {
	for from < to {
		r, ok := nextDigitRun(d.text, from, to)
		if !ok {
			return digitRun{}, false
		}
		from = r.end
		if r.plus || r.hash || r.n < min || r.n > max || d.inURL(r.start) {
			continue
		}
		return r, true
	}
	return digitRun{}, false
}

// inURL reports whether pos is inside one of the URLs.
func (d *doc) inURL(pos int) bool {
	lo, hi := 0, len(d.urls)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case d.urls[m].end <= pos:
			lo = m + 1
		case d.urls[m].start > pos:
			hi = m
		default:
			return true
		}
	}
	return false
}

// maxLine bounds how much of a line lineAfter returns: labels and values are short, and the
// bound keeps callers linear on inputs made of one huge line.
const maxLine = 200

// lineAfter returns the rest of the line that contains pos (from pos) and the next line, each
// at most maxLine bytes.
func lineAfter(text string, pos int) (rest, next string) {
	win := text[pos:min(len(text), pos+2*maxLine+1)]
	e := strings.IndexByte(win, '\n')
	if e < 0 {
		return win[:min(len(win), maxLine)], ""
	}
	rest = win[:min(e, maxLine)]
	n := win[e+1:]
	if k := strings.IndexByte(n, '\n'); k >= 0 {
		n = n[:k]
	}
	return rest, n[:min(len(n), maxLine)]
}

// labelledDigits reads "<label>: <digits>" (any label in any language, 1–40 characters, no
// digits in it) and returns the digits when the value is digits only.
func labelledDigits(line string, min, max int) (string, bool) {
	line = strings.TrimSpace(line)
	c, w := strings.IndexByte(line, ':'), 1
	if k := strings.Index(line, "："); k >= 0 && (c < 0 || k < c) {
		c, w = k, len("：")
	}
	if c < 1 || c > 60 {
		return "", false
	}
	for i := 0; i < c; i++ {
		if isDigit(line[i]) {
			return "", false
		}
	}
	v := strings.TrimSpace(line[c+w:])
	if len(v) < min || len(v) > max {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return "", false
		}
	}
	return v, true
}

// isIPv4 reports whether s is a dotted-quad IPv4 address.
func isIPv4(s string) bool {
	parts := 0
	n, digits := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || digits > 3 || n > 255 {
				return false
			}
			parts++
			n, digits = 0, 0
			continue
		}
		if !isDigit(s[i]) {
			return false
		}
		n = n*10 + int(s[i]-'0')
		digits++
	}
	return parts == 4
}

// ipv4At returns the IPv4 address that ends at text[:end] ("" when there is none).
func ipv4At(text string, end int) string {
	s := end
	for s > 0 && end-s < 15 && (isDigit(text[s-1]) || text[s-1] == '.') {
		s--
	}
	if s > 0 && isAlnum(text[s-1]) {
		return ""
	}
	if ip := text[s:end]; isIPv4(ip) {
		return ip
	}
	return ""
}
