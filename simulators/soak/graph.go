package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/simulators/graphsim"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// graphAdmin drives graphsim's admin API.
type graphAdmin struct{ url string }

func (s *site) graph() graphAdmin { return graphAdmin{url: s.sim.File.Graph.Admin} }

// event is a Graph event as the soak creates it: a video meeting (a sip: address the
// profile's fallback rule finds) between start and end.
func event(subject string, start, end time.Time) map[string]any {
	return map[string]any{
		"subject": subject,
		"start":   map[string]string{"dateTime": start.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":     map[string]string{"dateTime": end.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"body": map[string]string{"contentType": "html",
			"content": fmt.Sprintf("<html><body><p>Join: <a href=\"sip:%d@video.example.com\">sip:%d@video.example.com</a></p></body></html>", start.Unix()%1000000, start.Unix()%1000000)},
		"organizer": map[string]any{"emailAddress": map[string]string{"name": "Soak Organizer", "address": "soak@example.com"}},
	}
}

func (g graphAdmin) post(ctx context.Context, room string, ev map[string]any) (string, error) {
	var out struct{ ID string }
	err := callJSON(ctx, http.MethodPost, g.url+"/rooms/"+pathEscape(room)+"/events", ev, &out)
	return out.ID, err
}

func (g graphAdmin) patch(ctx context.Context, room, id string, p map[string]any) error {
	return callJSON(ctx, http.MethodPatch, g.url+"/rooms/"+pathEscape(room)+"/events/"+pathEscape(id), p, nil)
}

func (g graphAdmin) delete(ctx context.Context, room, id string) error {
	return callJSON(ctx, http.MethodDelete, g.url+"/rooms/"+pathEscape(room)+"/events/"+pathEscape(id), nil, nil)
}

// view is the room's calendar view (occurrences expanded) between from and to: the truth.
func (g graphAdmin) view(ctx context.Context, room string, from, to time.Time) ([]calendar.Event, error) {
	var out struct{ Value []calendar.Event }
	u := fmt.Sprintf("%s/rooms/%s/calendarView?start=%s&end=%s", g.url, pathEscape(room), from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	err := callJSON(ctx, http.MethodGet, u, nil, &out)
	return out.Value, err
}

func (g graphAdmin) stats(ctx context.Context) (graphsim.Stats, error) {
	var st graphsim.Stats
	err := callJSON(ctx, http.MethodGet, g.url+"/stats", nil, &st)
	return st, err
}

func (g graphAdmin) resetStats(ctx context.Context) error {
	return callJSON(ctx, http.MethodDelete, g.url+"/stats", nil, nil)
}

func (g graphAdmin) fault(ctx context.Context, f graphsim.Fault) (int, error) {
	var out struct{ ID int }
	err := callJSON(ctx, http.MethodPost, g.url+"/faults", f, &out)
	return out.ID, err
}

func (g graphAdmin) clearFaults(ctx context.Context) error {
	return callJSON(ctx, http.MethodDelete, g.url+"/faults", nil, nil)
}

// editor keeps changing the rooms' calendars: new meetings, moved ones, renamed ones,
// deleted ones, within the next hours (the pushed window).
type editor struct {
	g     graphAdmin
	rooms []string
	rng   *rand.Rand
	mine  map[string][]string // room → ids this editor created
	edits int
}

func newEditor(g graphAdmin, rooms []string, seed uint64) *editor {
	return &editor{g: g, rooms: rooms, rng: rand.New(rand.NewPCG(seed, 7)), mine: map[string][]string{}}
}

// step makes one random edit.
func (e *editor) step(ctx context.Context) error {
	room := e.rooms[e.rng.IntN(len(e.rooms))]
	ids := e.mine[room]
	start := time.Now().Add(time.Duration(10+e.rng.IntN(600)) * time.Minute).Truncate(time.Minute)
	var err error
	switch op := e.rng.IntN(4); {
	case op == 0 || len(ids) == 0:
		var id string
		id, err = e.g.post(ctx, room, event(fmt.Sprintf("soak %d", e.edits), start, start.Add(30*time.Minute)))
		if err == nil {
			e.mine[room] = append(ids, id)
		}
	case op == 1:
		id := ids[e.rng.IntN(len(ids))]
		err = e.g.patch(ctx, room, id, map[string]any{"subject": fmt.Sprintf("renamed %d", e.edits)})
	case op == 2:
		id := ids[e.rng.IntN(len(ids))]
		ev := event("", start, start.Add(45*time.Minute))
		err = e.g.patch(ctx, room, id, map[string]any{"start": ev["start"], "end": ev["end"]})
	default:
		i := e.rng.IntN(len(ids))
		err = e.g.delete(ctx, room, ids[i])
		e.mine[room] = append(ids[:i:i], ids[i+1:]...)
	}
	e.edits++
	if err != nil {
		return fmt.Errorf("graphsim edit in %s: %w", room, err)
	}
	return nil
}
