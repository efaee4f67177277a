package main

import (
	"maps"
	"slices"
)

// rssPerRoom is the straight line through otj-edge's steady RSS at the two largest room
// counts that ran: what one more room costs (its codec comes with it, and below 1,000 rooms
// a tenth of a Poly endpoint and of a Webex device: min(100, rooms/10) of each) and what the
// line leaves at no rooms. Issue 22's 64 MB at 1,000 rooms is one point; the two figures say
// how far a target stated per room (a base and a cost a room) is from the code, which one
// point cannot (README "Why the rest is missed", Memory).
type rssPerRoom struct {
	PerRoomKB float64 // steady RSS a room, KiB
	BaseMB    float64 // the line at no rooms, MiB
	From, To  int     // the two room counts
}

// steadyRSSPerRoom fits the line; ok is false with fewer than two room counts.
func steadyRSSPerRoom(runs []*Run) (rssPerRoom, bool) {
	byRooms := map[int]*Run{}
	for _, r := range runs {
		if r != nil && r.Strategy == "otj-edge" && r.Rooms > 0 && r.SteadyRSSMB > 0 {
			byRooms[r.Rooms] = r
		}
	}
	sizes := slices.Sorted(maps.Keys(byRooms))
	if len(sizes) < 2 {
		return rssPerRoom{}, false
	}
	a, b := byRooms[sizes[len(sizes)-2]], byRooms[sizes[len(sizes)-1]]
	slope := (b.SteadyRSSMB - a.SteadyRSSMB) / float64(b.Rooms-a.Rooms) // MiB a room
	return rssPerRoom{
		PerRoomKB: round2(slope * 1024),
		BaseMB:    round2(a.SteadyRSSMB - slope*float64(a.Rooms)),
		From:      a.Rooms,
		To:        b.Rooms,
	}, true
}

// reportRSSPerRoom adds steady_rss_per_room_kb and steady_rss_base_mb to the report's figures.
func reportRSSPerRoom(rep *Report, runs []*Run) {
	l, ok := steadyRSSPerRoom(runs)
	if !ok {
		return
	}
	rep.Figures["steady_rss_per_room_kb"] = l.PerRoomKB
	rep.Figures["steady_rss_base_mb"] = l.BaseMB
	rep.Figures["steady_rss_per_room_between"] = []int{l.From, l.To}
	logf("scale: steady RSS %.1f KB a room and %.1f MB at no rooms (the line through %d and %d rooms)",
		l.PerRoomKB, l.BaseMB, l.From, l.To)
}
