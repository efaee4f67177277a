package graph

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otj-edge/otj-edge/agent/secret"
	"github.com/otj-edge/otj-edge/simulators/graphsim"
)

// BenchmarkSend is one steady-state request through the production client (SDK adapter and
// middleware, HTTP/2 over TLS on loopback) to graphsim: a poll (a delta link with nothing new)
// (reading its delta link, as a round does) and a probe (getSchedule for 20 rooms). allocs/op counts the whole process, graphsim's
// serving included; BenchmarkRequestBuild is the part this package builds itself.
func BenchmarkSend(b *testing.B) {
	sim, err := graphsim.New(graphsim.Options{RateLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	if err := sim.CA().WriteFile(caFile); err != nil {
		b.Fatal(err)
	}
	var rooms []string
	for i := range maxSchedules {
		m := roomName(i + 1)
		rooms = append(rooms, m)
		if err := sim.AddRoom(graphsim.Room{Mailbox: m}); err != nil {
			b.Fatal(err)
		}
		for k := range 5 {
			if _, err := sim.PostEvent(m, invite("Meeting", time.Now().Add(time.Duration(k)*3*time.Hour), time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	}
	base, err := baseClient(caFile)
	if err != nil {
		b.Fatal(err)
	}
	in := Integration{Name: "m365", ClientID: sim.ClientID(), ClientSecret: secret.New(sim.ClientSecret()),
		TokenURL: sim.TokenURL(), GraphURL: sim.GraphURL()}
	a, err := newAPI(in, base)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	// The room's delta link, as a synced room holds it.
	spec := reqSpec{kind: kindDeltaStart, mailbox: rooms[0], start: now.Add(-24 * time.Hour), end: now.Add(7 * 24 * time.Hour)}
	for {
		res := a.send(b.Context(), spec)
		if !res.ok() {
			b.Fatal(describe(res))
		}
		pg, err := parsePage(res.body)
		if err != nil {
			b.Fatal(err)
		}
		if pg.deltaLink != "" {
			spec = reqSpec{kind: kindLink, mailbox: rooms[0], link: pg.deltaLink}
			break
		}
		spec = reqSpec{kind: kindLink, mailbox: rooms[0], link: pg.nextLink}
	}
	b.Run("poll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res := a.send(b.Context(), spec)
			if !res.ok() {
				b.Fatal(describe(res))
			}
			// Each answer's delta link replaces the last (graphsim keeps one generation).
			pg, err := parsePage(res.body)
			if err != nil || pg.deltaLink == "" {
				b.Fatal("no delta link", err)
			}
			spec.link = pg.deltaLink
		}
	})
	b.Run("probe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := a.getSchedule(b.Context(), rooms[0], rooms, now.Add(-time.Hour), now.Add(7*24*time.Hour)); !res.ok() {
				b.Fatal(describe(res))
			}
		}
	})
}

// BenchmarkRequestBuild is what this package allocates itself for one request, before the
// SDK takes it: a poll's (a delta link) and a probe's (getSchedule for 20 rooms, its body).
func BenchmarkRequestBuild(b *testing.B) {
	a := &api{graphURL: "https://graph.microsoft.com/v1.0", graphHost: "graph.microsoft.com"}
	link := "https://graph.microsoft.com/v1.0/users/room-1@contoso.example/calendarView/delta?$deltatoken=" + strings.Repeat("x", 200)
	b.Run("poll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.requestInfo(b.Context(), reqSpec{kind: kindLink, mailbox: "room-1@contoso.example", link: link}); err != nil {
				b.Fatal(err)
			}
		}
	})
	var rooms []string
	for i := range maxSchedules {
		rooms = append(rooms, roomName(i+1))
	}
	now := time.Now()
	b.Run("probe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := scheduleRequest(rooms[0], rooms, now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
