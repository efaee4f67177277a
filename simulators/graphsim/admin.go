package graphsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// adminHandler is the admin API (plain HTTP, JSON, loopback only); simulators/README.md
// documents it with examples.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	s.placesAdmin(mux) // places.go
	s.delegatedAdmin(mux)
	mux.HandleFunc("GET /rooms", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Rooms()) })
	mux.HandleFunc("POST /rooms", func(w http.ResponseWriter, r *http.Request) {
		var room Room
		if !decode(w, r, &room) {
			return
		}
		if err := s.AddRoom(room); err != nil {
			adminError(w, err)
			return
		}
		info, _ := s.RoomInfo(room.Mailbox)
		writeJSON(w, http.StatusCreated, info)
	})
	mux.HandleFunc("GET /rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		info, err := s.RoomInfo(r.PathValue("room"))
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("PATCH /rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		var p RoomPatch
		if !decode(w, r, &p) {
			return
		}
		if err := s.PatchRoom(r.PathValue("room"), p); err != nil {
			adminError(w, err)
			return
		}
		info, _ := s.RoomInfo(r.PathValue("room"))
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("DELETE /rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.RemoveRoom(r.PathValue("room")); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /rooms/{room}/expire-delta", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.RoomInfo(r.PathValue("room")); err != nil {
			adminError(w, err)
			return
		}
		s.ExpireDeltaTokens(r.PathValue("room"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		evs, err := s.Events(r.PathValue("room"))
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": evs})
	})
	mux.HandleFunc("POST /rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if !decode(w, r, &ev) {
			return
		}
		id, err := s.PostEvent(r.PathValue("room"), ev)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("GET /rooms/{room}/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		ev, err := s.Event(r.PathValue("room"), r.PathValue("id"))
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ev)
	})
	mux.HandleFunc("PATCH /rooms/{room}/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		var patch map[string]any
		if !decode(w, r, &patch) {
			return
		}
		id, err := s.PatchEvent(r.PathValue("room"), r.PathValue("id"), patch)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
	})
	mux.HandleFunc("DELETE /rooms/{room}/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.DeleteEvent(r.PathValue("room"), r.PathValue("id")); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /rooms/{room}/events/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		if err := s.CancelEvent(r.PathValue("room"), r.PathValue("id")); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /rooms/{room}/events/{id}/instances", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := parseQueryTime(r.URL.Query().Get("start"))
		to, err2 := parseQueryTime(r.URL.Query().Get("end"))
		if err1 != nil || err2 != nil {
			adminError(w, errBadRequest("start and end are required ISO 8601 times"))
			return
		}
		evs, err := s.Instances(r.PathValue("room"), r.PathValue("id"), from, to)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": evs})
	})
	mux.HandleFunc("GET /rooms/{room}/calendarView", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := parseQueryTime(r.URL.Query().Get("start"))
		to, err2 := parseQueryTime(r.URL.Query().Get("end"))
		if err1 != nil || err2 != nil {
			adminError(w, errBadRequest("start and end are required ISO 8601 times"))
			return
		}
		evs, err := s.CalendarView(r.PathValue("room"), from, to)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": evs})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("DELETE /stats", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		id, err := s.AddFault(f)
		if err != nil {
			adminError(w, errBadRequest(err.Error()))
			return
		}
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err == nil {
			err = s.RemoveFault(id)
		}
		if err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PATCH /app", func(w http.ResponseWriter, r *http.Request) {
		var a AppSettings
		if !decode(w, r, &a) {
			return
		}
		if err := s.SetApp(a); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /scenario", func(w http.ResponseWriter, r *http.Request) {
		var sc Scenario
		if !decode(w, r, &sc) {
			return
		}
		if sc.Now.IsZero() {
			sc.Now = s.now()
		}
		sum, err := s.Load(sc)
		if err != nil {
			adminError(w, errBadRequest(err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, sum)
	})
	s.subscriptionAdmin(mux) // subscriptions.go
	return mux
}

type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("invalid JSON body: %v", err)})
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var refused *InviteRefused
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &refused):
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// nowOr is t, or the simulator's clock when t is zero.
func (s *Server) nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}
