package ewssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// adminHandler is graphsim's admin API (rooms, events, scenario, Graph stats and faults) with
// the EWS parts under /ews/ (simulators/README.md).
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.gs.AdminHandler())
	mux.HandleFunc("GET /ews/accounts", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Accounts()) })
	mux.HandleFunc("POST /ews/accounts", func(w http.ResponseWriter, r *http.Request) {
		var a Account
		if decode(w, r, &a) && ok(w, s.PutAccount(a)) {
			writeJSON(w, http.StatusCreated, map[string]string{"user": a.User})
		}
	})
	mux.HandleFunc("DELETE /ews/accounts/{user}", func(w http.ResponseWriter, r *http.Request) {
		s.RemoveAccount(r.PathValue("user"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /ews/accounts/{user}/impersonation", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Impersonation string   `json:"impersonation"`
			Scope         []string `json:"scope"`
		}
		if decode(w, r, &body) && ok(w, s.SetImpersonation(r.PathValue("user"), body.Impersonation, body.Scope)) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("PUT /ews/accounts/{user}/delegate/{room}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Right string `json:"right"`
		}
		if decode(w, r, &body) && ok(w, s.GrantDelegate(r.PathValue("user"), r.PathValue("room"), body.Right)) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("DELETE /ews/accounts/{user}/delegate/{room}", func(w http.ResponseWriter, r *http.Request) {
		if ok(w, s.GrantDelegate(r.PathValue("user"), r.PathValue("room"), "")) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /ews/settings", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Settings()) })
	mux.HandleFunc("PATCH /ews/settings", func(w http.ResponseWriter, r *http.Request) {
		var p SettingsPatch
		if decode(w, r, &p) {
			s.SetSettings(p)
			writeJSON(w, http.StatusOK, s.Settings())
		}
	})
	mux.HandleFunc("GET /ews/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("POST /ews/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		id, err := s.AddFault(f)
		if ok(w, err) {
			writeJSON(w, http.StatusCreated, map[string]int{"id": id})
		}
	})
	mux.HandleFunc("DELETE /ews/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /ews/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err == nil {
			err = s.RemoveFault(id)
		}
		if ok(w, err) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /ews/streams/drop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"dropped": s.DropStreams(r.URL.Query().Get("mailbox"))})
	})
	mux.HandleFunc("GET /ews/subscriptions", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Subscriptions()) })
	mux.HandleFunc("GET /ews/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("DELETE /ews/stats", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("invalid JSON body: %v", err)})
		return false
	}
	return true
}

// ok writes the error (404 for unknown things, else 400) and reports whether there was none.
func ok(w http.ResponseWriter, err error) bool {
	if err == nil {
		return true
	}
	status := http.StatusBadRequest
	if errors.Is(err, errNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
	return false
}
