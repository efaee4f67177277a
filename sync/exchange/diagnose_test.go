package exchange

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// meetings makes n distinct, healthy meetings of room@contoso.example; mod adjusts each.
func meetings(n int, mod func(i int, ev *calendar.Event)) []calendar.Event {
	var out []calendar.Event
	for i := range n {
		ev := calendar.Event{ID: fmt.Sprintf("ev%d", i), Type: calendar.TypeSingleInstance, Subject: fmt.Sprintf("Topic %d", i),
			Body:           &calendar.ItemBody{ContentType: "html", Content: "<p>Agenda</p>"},
			Organizer:      &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Alice Berg", Address: "alice@contoso.example"}},
			ResponseStatus: &calendar.ResponseStatus{Response: "accepted"}, ShowAs: "busy", Sensitivity: "normal"}
		if i%10 == 3 {
			ev.Sensitivity = "private"
		}
		if i%8 == 5 {
			ev.Organizer = &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Eve", Address: "eve@fabrikam.example"}}
		}
		if mod != nil {
			mod(i, &ev)
		}
		out = append(out, ev)
	}
	return out
}

func flagsOf(fs []store.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Flag)
	}
	return out
}

func TestDiagnoseThresholds(t *testing.T) {
	orgSubject := func(ev *calendar.Event) { ev.Subject = ev.OrganizerName() }
	tests := []struct {
		name   string
		events []calendar.Event
		want   []string
	}{
		{"clean room", meetings(40, nil), nil},
		{"organizer as subject", meetings(40, func(_ int, ev *calendar.Event) { orgSubject(ev) }), []string{FlagAddOrganizerToSubject}},
		{"too few meetings to tell", meetings(4, func(_ int, ev *calendar.Event) { orgSubject(ev) }), nil},
		{"70 % is not most", meetings(10, func(i int, ev *calendar.Event) {
			if i < 7 {
				orgSubject(ev)
			}
		}), nil},
		{"empty subjects", meetings(10, func(_ int, ev *calendar.Event) { ev.Subject = " " }), []string{FlagDeleteSubject}},
		{"empty bodies", meetings(10, func(_ int, ev *calendar.Event) {
			ev.Body = &calendar.ItemBody{ContentType: "html", Content: "<html><body>&nbsp;</body></html>"}
		}), []string{FlagDeleteComments}},
		{"markup-only bodies with preview text are not empty", meetings(10, func(_ int, ev *calendar.Event) {
			ev.Body = &calendar.ItemBody{ContentType: "html", Content: "<html><body>&nbsp;</body></html>"}
			ev.BodyPreview = "Agenda: quarterly numbers"
		}), nil},
		{"tentative", meetings(10, func(i int, ev *calendar.Event) {
			if i < 6 {
				ev.ShowAs, ev.ResponseStatus = "tentative", &calendar.ResponseStatus{Response: "notResponded"}
			}
		}), []string{FlagAutomateProcessing}},
		{"19 meetings never private: too few to say", meetings(19, func(_ int, ev *calendar.Event) { ev.Sensitivity = "normal" }), nil},
		{"20 meetings never private", meetings(20, func(_ int, ev *calendar.Event) { ev.Sensitivity = "normal" }), []string{FlagRemovePrivateProperty}},
		{"never external", meetings(30, func(_ int, ev *calendar.Event) {
			ev.Organizer = &calendar.Recipient{EmailAddress: calendar.EmailAddress{Name: "Bo", Address: "bo@eu.contoso.example"}}
		}), []string{FlagProcessExternal}},
		{"a series counts once", append(meetings(5, nil), meetings(30, func(i int, ev *calendar.Event) {
			ev.ID, ev.Type, ev.SeriesMasterID = fmt.Sprintf("occ%d", i), calendar.TypeOccurrence, "master"
			orgSubject(ev)
		})...), nil},
		{"cancelled meetings do not count", meetings(10, func(_ int, ev *calendar.Event) { orgSubject(ev); ev.IsCancelled = true }), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, flagsOf(Diagnose("room@contoso.example", tc.events)))
		})
	}
}

func TestDiagnoseDetailAndFix(t *testing.T) {
	evs := meetings(10, func(i int, ev *calendar.Event) {
		ev.Body = &calendar.ItemBody{ContentType: "html", Content: ""}
		if i < 4 {
			ev.OnlineMeeting = &calendar.OnlineMeetingInfo{JoinURL: "https://teams.microsoft.com/l/meetup-join/x"}
		}
	})
	fs := Diagnose("room-03@contoso.example", evs)
	require.Len(t, fs, 1)
	assert.Equal(t, "10 of 10 meetings have an empty body: the room deletes invite bodies (DeleteComments), so Zoom, Webex, SIP and video-device (CVI) addresses are lost; only the 4 Teams join links survive", fs[0].Detail)
	assert.Equal(t, "Set-CalendarProcessing -Identity room-03@contoso.example -DeleteComments $false", fs[0].Fix)
}
