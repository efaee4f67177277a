package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// api adapts a handler that returns a document or an error to JSON.
func (s *Server) api(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			code := statusOf(err)
			if code >= 500 {
				s.log.Error("status API failed", "path", r.URL.Path, "err", err)
			}
			s.writeJSON(w, code, apiError{Error: err.Error()})
			return
		}
		s.writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) apiStatus(r *http.Request) (any, error) {
	return s.summary(r.Context(), s.reader())
}

func (s *Server) apiHealth(*http.Request) (any, error) {
	return Health{Overall: s.opts.Health.Overall(), Items: nonNilItems(s.opts.Health.Snapshot())}, nil
}

func (s *Server) apiRooms(r *http.Request) (any, error) {
	return s.reader().Rooms(r.Context())
}

func (s *Server) apiRoom(r *http.Request) (any, error) {
	d, err := s.reader().Room(r.Context(), r.PathValue("room"))
	if err != nil {
		return nil, s.noSuchRoom(r, r.PathValue("room"), err)
	}
	return d, nil
}

// apiMeetings lists meetings: ?room= (default every room), ?from= and ?to= as RFC 3339 times
// (default: from the start of today, with no end), or ?days=N (today and the next N-1 days).
func (s *Server) apiMeetings(r *http.Request) (any, error) {
	rd := s.reader()
	from, to, err := meetingRange(rd, r)
	if err != nil {
		return nil, err
	}
	room := r.URL.Query().Get("room")
	ms, err := rd.Meetings(r.Context(), room, from, to)
	if err != nil {
		return nil, s.noSuchRoom(r, room, err)
	}
	return ms, nil
}

func meetingRange(rd *Reader, r *http.Request) (time.Time, time.Time, error) {
	q := r.URL.Query()
	from, _ := rd.Today()
	var to time.Time
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			return from, to, errBadRequest("days must be a number from 1 to 366")
		}
		to = from.AddDate(0, 0, n)
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return from, to, errBadRequest(p.key + " must be an RFC 3339 time such as 2026-03-10T08:00:00Z")
			}
			*p.dst = t
		}
	}
	if !to.IsZero() && !to.After(from) {
		return from, to, errBadRequest("to must be after from")
	}
	return from, to, nil
}

func (s *Server) apiEndpoints(r *http.Request) (any, error) {
	return s.reader().Endpoints(r.Context())
}

// apiEvents lists recent events: ?room=, ?endpoint=, ?level= (comma-separated), ?n= (≤ 1000).
func (s *Server) apiEvents(r *http.Request) (any, error) {
	f, err := eventFilter(r)
	if err != nil {
		return nil, err
	}
	return s.reader().Events(r.Context(), f)
}

func eventFilter(r *http.Request) (store.EventFilter, error) {
	q := r.URL.Query()
	f := store.EventFilter{Room: strings.ToLower(q.Get("room")), Endpoint: q.Get("endpoint"), Limit: 100}
	if v := q.Get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, errBadRequest("n must be a number from 1 to 1000")
		}
		f.Limit = n
	}
	if v := q.Get("level"); v != "" {
		for _, l := range strings.Split(v, ",") {
			switch l = strings.TrimSpace(l); l {
			case "info", "warn", "error":
				f.Levels = append(f.Levels, l)
			default:
				return f, errBadRequest("level must be info, warn or error (comma-separated)")
			}
		}
	}
	return f, nil
}
