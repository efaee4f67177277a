// Package migrate is the shadow check of a phased migration: per shadowed room, it compares
// the meetings the room shows (resolved from its live integration) with the meetings the same
// profile resolves from the shadow integration's own store, and says in plain words whether
// they are identical, how they differ, or why the shadow cannot tell yet. The agent, the
// status page, `otj-edge migrate status` and MQTT all show this one report.
package migrate

import (
	"fmt"
	"slices"
	"time"

	"github.com/otj-edge/otj-edge/sync/calendar"
)

// Compare lists, in words and in start order, every difference a person in the room would
// see between the live and the shadow meetings: a meeting on one side only, another join
// address (or none), other times, another subject as shown. when formats a meeting's start.
//
// Meetings are paired by their id (iCalUId + occurrence start, the same from every source that
// keeps iCalUIds), then by iCalUId and start, then by start and subject, so a source that
// makes its ids differently still pairs what is the same meeting.
func Compare(live, shadow []calendar.Meeting, when func(time.Time) string) []string {
	type diff struct {
		at   time.Time
		text string
	}
	var out []diff
	label := func(m *calendar.Meeting) string { return fmt.Sprintf("%s '%s'", when(m.Start), m.Subject) }
	pairs, onlyLive, onlyShadow := pair(live, shadow)
	for _, p := range pairs {
		l, s := p[0], p[1]
		add := func(format string, args ...any) {
			out = append(out, diff{l.Start, label(l) + " " + fmt.Sprintf(format, args...)})
		}
		if lj, sj := joinText(l), joinText(s); lj != sj {
			add("join %s (live) vs %s (shadow)", lj, sj)
		}
		if !l.Start.Equal(s.Start) {
			add("starts %s (live) vs %s (shadow)", when(l.Start), when(s.Start))
		}
		if !l.End.Equal(s.End) {
			add("ends %s (live) vs %s (shadow)", when(l.End), when(s.End))
		}
		if l.Subject != s.Subject {
			add("subject '%s' (live) vs '%s' (shadow)", l.Subject, s.Subject)
		}
		if l.AllDay != s.AllDay || l.Private != s.Private {
			add("shown differently (all-day %t/%t, private %t/%t: live/shadow)", l.AllDay, s.AllDay, l.Private, s.Private)
		}
	}
	for _, m := range onlyLive {
		out = append(out, diff{m.Start, label(m) + " is missing in the shadow (only live has it)"})
	}
	for _, m := range onlyShadow {
		out = append(out, diff{m.Start, label(m) + " is missing live (only the shadow has it)"})
	}
	slices.SortStableFunc(out, func(a, b diff) int { return a.at.Compare(b.at) })
	texts := make([]string, len(out))
	for i, d := range out {
		texts[i] = d.text
	}
	return texts
}

// joinText is what the Join button dials, in words.
func joinText(m *calendar.Meeting) string {
	if !m.Join {
		return "none (no Join button)"
	}
	if m.Protocol != "" && m.Protocol != calendar.ProtocolSIP {
		return m.Number + " by " + m.Protocol
	}
	return m.Number
}

// pair matches live meetings with shadow ones (see Compare).
func pair(live, shadow []calendar.Meeting) (pairs [][2]*calendar.Meeting, onlyLive, onlyShadow []*calendar.Meeting) {
	usedS := make([]bool, len(shadow))
	usedL := make([]bool, len(live))
	keys := []func(m *calendar.Meeting) string{
		func(m *calendar.Meeting) string { return m.ID },
		func(m *calendar.Meeting) string {
			if m.ICalUID == "" {
				return ""
			}
			return m.ICalUID + "|" + m.Start.UTC().Format(time.RFC3339)
		},
		func(m *calendar.Meeting) string { return m.Start.UTC().Format(time.RFC3339) + "|" + m.Subject },
	}
	for _, key := range keys {
		byKey := map[string][]int{}
		for i := range shadow {
			if k := key(&shadow[i]); !usedS[i] && k != "" {
				byKey[k] = append(byKey[k], i)
			}
		}
		for i := range live {
			k := key(&live[i])
			if usedL[i] || k == "" || len(byKey[k]) == 0 {
				continue
			}
			j := byKey[k][0]
			byKey[k] = byKey[k][1:]
			usedL[i], usedS[j] = true, true
			pairs = append(pairs, [2]*calendar.Meeting{&live[i], &shadow[j]})
		}
	}
	for i := range live {
		if !usedL[i] {
			onlyLive = append(onlyLive, &live[i])
		}
	}
	for j := range shadow {
		if !usedS[j] {
			onlyShadow = append(onlyShadow, &shadow[j])
		}
	}
	return pairs, onlyLive, onlyShadow
}
