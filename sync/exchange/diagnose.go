// Package exchange is what otj-edge knows of Exchange room mailboxes, whichever door reads them
// (Microsoft Graph for Exchange Online, EWS for Exchange Server): the diagnosis of a room's
// calendar processing settings from its events, and the Set-CalendarProcessing commands that
// fix them. It works on the neutral events of sync/calendar only, so every Exchange source
// calls it unchanged.
package exchange

import (
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Diagnosis flags: calendar processing settings of a room mailbox that hurt One-Touch Join, as
// seen in the data alone (the README's "Diagnosis of calendar processing"). Each comes with the
// Set-CalendarProcessing command that fixes it (for invites received after the change).
const (
	FlagAddOrganizerToSubject = "add_organizer_to_subject"
	FlagDeleteSubject         = "delete_subject"
	FlagDeleteComments        = "delete_comments"
	FlagRemovePrivateProperty = "remove_private_property"
	FlagAutomateProcessing    = "automate_processing"
	FlagProcessExternal       = "process_external_meeting_messages"
)

// Thresholds: a ratio flag needs a few meetings and most of them showing the sign; the flags
// that read an absence (never private, never external) need more meetings to mean anything.
const (
	diagMinMeetings     = 5
	diagRatio           = 0.8
	diagAbsenceMeetings = 20
)

// Diagnose looks at a room's stored events and reports the calendar processing settings that
// show in them. Each meeting counts once (a series is one meeting); cancelled ones are skipped.
func Diagnose(mailbox string, events []calendar.Event) []store.Finding {
	seen := map[string]bool{}
	var sample []calendar.Event
	for _, ev := range events {
		if ev.IsCancelled || ev.Removed != nil {
			continue
		}
		key := ev.ID
		if ev.SeriesMasterID != "" {
			key = ev.SeriesMasterID
		}
		if !seen[key] {
			seen[key] = true
			sample = append(sample, ev)
		}
	}
	n := len(sample)
	var organizerSubject, emptySubject, emptyBody, private, tentative, external, online int
	for _, ev := range sample {
		subject := strings.TrimSpace(ev.Subject)
		org := strings.TrimSpace(ev.OrganizerName())
		switch {
		case subject == "":
			emptySubject++
		case org != "" && strings.EqualFold(subject, org):
			organizerSubject++
		}
		if bodyEmpty(ev) {
			emptyBody++
		}
		if ev.IsPrivate() {
			private++
		}
		if isTentative(ev) {
			tentative++
		}
		if isExternal(mailbox, ev.OrganizerAddress()) {
			external++
		}
		if ev.OnlineMeeting != nil && ev.OnlineMeeting.JoinURL != "" {
			online++
		}
	}
	cmd := func(args string) string { return "Set-CalendarProcessing -Identity " + mailbox + " " + args }
	of := func(k int) string { return fmt.Sprintf("%d of %d meetings", k, n) }
	var out []store.Finding
	if n >= diagMinMeetings && ratio(tentative, n) > 0.5 {
		out = append(out, store.Finding{Flag: FlagAutomateProcessing,
			Detail: of(tentative) + " are tentative or not accepted by the room: the resource booking attendant is not accepting invites (AutomateProcessing is not AutoAccept), so the other settings do not apply either",
			Fix:    cmd("-AutomateProcessing AutoAccept")})
	}
	if n >= diagMinMeetings && ratio(organizerSubject, n) >= diagRatio {
		out = append(out, store.Finding{Flag: FlagAddOrganizerToSubject,
			Detail: of(organizerSubject) + " show the organizer's name as their subject: the room replaces subjects (AddOrganizerToSubject, usually with DeleteSubject)",
			Fix:    cmd("-AddOrganizerToSubject $false -DeleteSubject $false")})
	}
	if n >= diagMinMeetings && ratio(emptySubject, n) >= diagRatio {
		out = append(out, store.Finding{Flag: FlagDeleteSubject,
			Detail: of(emptySubject) + " have no subject: the room deletes subjects (DeleteSubject)",
			Fix:    cmd("-DeleteSubject $false")})
	}
	if n >= diagMinMeetings && ratio(emptyBody, n) >= diagRatio {
		detail := of(emptyBody) + " have an empty body: the room deletes invite bodies (DeleteComments), so Zoom, Webex, SIP and video-device (CVI) addresses are lost"
		if online > 0 {
			detail += fmt.Sprintf("; only the %d Teams join links survive", online)
		}
		out = append(out, store.Finding{Flag: FlagDeleteComments, Detail: detail, Fix: cmd("-DeleteComments $false")})
	}
	if n >= diagAbsenceMeetings && private == 0 {
		out = append(out, store.Finding{Flag: FlagRemovePrivateProperty,
			Detail: fmt.Sprintf("none of %d meetings is private: the room probably clears the private flag (RemovePrivateProperty), so private meetings show their subject on the panel", n),
			Fix:    cmd("-RemovePrivateProperty $false")})
	}
	if n >= diagAbsenceMeetings && external == 0 {
		out = append(out, store.Finding{Flag: FlagProcessExternal,
			Detail: fmt.Sprintf("none of %d meetings has an organizer outside the room's domain: the room probably declines external and forwarded invites (ProcessExternalMeetingMessages is $false); change it only if external meetings should be joinable", n),
			Fix:    cmd("-ProcessExternalMeetingMessages $true")})
	}
	return out
}

func ratio(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

var tagRE = regexp.MustCompile(`(?s)<(style|head|script)[^>]*>.*?</(style|head|script)>|<[^>]+>`)

// bodyEmpty reports whether the event has no body text (HTML markup and whitespace aside).
func bodyEmpty(ev calendar.Event) bool {
	// The preview first: an event with preview text is not empty whatever its body, and then
	// the markup of a Teams invite (3 KB) need not be stripped (that regexp was nine tenths of
	// the diagnosis' CPU and 3 % of the agent's over a 1,000-room cold start).
	if strings.TrimSpace(ev.BodyPreview) != "" {
		return false
	}
	text := html.UnescapeString(tagRE.ReplaceAllString(ev.BodyText(), " "))
	text = strings.TrimSpace(strings.ReplaceAll(text, "\u00a0", " "))
	return text == ""
}

func isTentative(ev calendar.Event) bool {
	if strings.EqualFold(ev.ShowAs, "tentative") {
		return true
	}
	if ev.ResponseStatus != nil {
		switch strings.ToLower(ev.ResponseStatus.Response) {
		case "notresponded", "tentativelyaccepted", "none":
			return true
		}
	}
	return false
}

// isExternal reports whether addr is outside the room's domain (or its parents and children).
func isExternal(mailbox, addr string) bool {
	_, rd, ok1 := strings.Cut(strings.ToLower(mailbox), "@")
	_, od, ok2 := strings.Cut(strings.ToLower(addr), "@")
	if !ok1 || !ok2 {
		return false
	}
	return !(od == rd || strings.HasSuffix(od, "."+rd) || strings.HasSuffix(rd, "."+od))
}

// SameFindings reports whether two diagnoses say the same (flags, details and fixes): a source
// writes a room's diagnosis, and tells of new findings, only when it changed.
func SameFindings(a, b []store.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
