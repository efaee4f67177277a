package rules

import (
	"strings"
)

// When a Teams invite's join link cannot be read (a URL protector that cannot be decoded
// offline rewrote it, or it was removed) the invite still prints the meeting's "Meeting ID"
// and "Passcode", and Teams' short link is made of exactly those:
// https://teams.microsoft.com/meet/<id digits>?p=<passcode>. The labels are the organizer's
// language; these are the ones the corpus holds (English, Danish, German, Finnish). The ID has
// 12–15 digits in groups of three, which no Zoom (9–11) or Webex (9–12, other grouping) ID has.

var teamsIDLabels = []string{"meeting id", "møde-id", "besprechungs-id", "kokouksen tunnus"}

var teamsPasscodeLabels = []string{"passcode", "adgangskode", "kennung", "kenncode", "tunnuskoodi"}

// teamsIDLink is a join link built from the printed Meeting ID and Passcode.
type teamsIDLink struct {
	link, id string
	pos      int
}

// labelValue splits "<label>: <value>" and reports whether the label is one of labels
// (case-insensitive).
func labelValue(line string, labels []string) (string, bool) {
	line = strings.TrimSpace(line)
	c := strings.IndexByte(line, ':')
	if c < 1 || c > 40 {
		return "", false
	}
	label := strings.ToLower(strings.TrimSpace(line[:c]))
	for _, l := range labels {
		if label == l {
			return strings.TrimSpace(line[c+1:]), true
		}
	}
	return "", false
}

// teamsMeetingID returns the digits of a Teams Meeting ID value ("366 019 487 202").
func teamsMeetingID(v string) (string, bool) {
	if len(v) > 24 {
		return "", false
	}
	groups := strings.Split(v, " ")
	var b strings.Builder
	for i, g := range groups {
		if g == "" || len(g) > 3 || !isDigits(g) || len(g) < 3 && i != len(groups)-1 {
			return "", false
		}
		b.WriteString(g)
	}
	if n := b.Len(); n < 12 || n > 15 {
		return "", false
	}
	return b.String(), true
}

// teamsPasscode reports whether v looks like a Teams meeting passcode (letters and digits).
func teamsPasscode(v string) bool {
	if len(v) < 4 || len(v) > 16 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) {
			return false
		}
	}
	return true
}

// findTeamsMeetingID looks in text[from:to] for a Meeting ID line followed within two lines
// by a Passcode line. Lines are visited once each and only their first maxLine bytes are read.
func findTeamsMeetingID(d *doc, from, to int) (teamsIDLink, bool) {
	for p := from; p < to; {
		e := strings.IndexByte(d.text[p:to], '\n')
		end := to
		if e >= 0 {
			end = p + e
		}
		line := d.text[p:min(end, p+maxLine)]
		start := p
		p = end + 1
		v, ok := labelValue(line, teamsIDLabels)
		if !ok {
			continue
		}
		id, ok := teamsMeetingID(v)
		if !ok {
			continue
		}
		rest, next := lineAfter(d.text, min(p, len(d.text)))
		for _, l := range []string{rest, next} {
			if pc, ok := labelValue(l, teamsPasscodeLabels); ok && teamsPasscode(pc) {
				return teamsIDLink{link: "https://teams.microsoft.com/meet/" + id + "?p=" + pc, id: id, pos: start}, true
			}
		}
	}
	return teamsIDLink{}, false
}

// looksLikeTeams reports whether an invite without a readable join link is a Teams meeting:
// Graph says so, a Mimecast link names a Teams host, or the text names Microsoft Teams.
func looksLikeTeams(c *evalCtx) bool {
	if strings.HasPrefix(strings.ToLower(c.ev.OnlineMeetingProvider), "teams") {
		return true
	}
	for _, h := range c.d.mimecast {
		if isTeamsJoin(span{host: h, rest: "/meet/"}) {
			return true
		}
	}
	return indexFold(c.d.text[:min(len(c.d.text), 1<<20)], "microsoft teams") >= 0
}

// unreadableLinkWhy says why there is no readable join link, for the reason.
func unreadableLinkWhy(d *doc) string {
	for _, h := range d.mimecast {
		if isTeamsJoin(span{host: h, rest: "/meet/"}) {
			return "the join link is behind Mimecast URL Protect, which cannot be decoded offline"
		}
	}
	if len(d.mimecast) > 0 {
		return "the links are behind Mimecast URL Protect, which cannot be decoded offline"
	}
	return "the invite has no readable join link"
}
