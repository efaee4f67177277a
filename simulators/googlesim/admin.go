package googlesim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// adminHandler is graphsim's admin API (rooms, events, scenario, Graph stats and faults) with
// the Google parts under /google/ (simulators/README.md).
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.gs.AdminHandler())
	mux.HandleFunc("GET /google/service-accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.ServiceAccounts())
	})
	mux.HandleFunc("POST /google/service-accounts", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name string `json:"name"`
		}
		if !decode(w, r, &body) {
			return
		}
		key, err := s.CreateServiceAccount(body.Name)
		if ok(w, err) {
			writeRaw(w, http.StatusCreated, key)
		}
	})
	mux.HandleFunc("GET /google/service-accounts/{email}/key", func(w http.ResponseWriter, r *http.Request) {
		key, err := s.KeyFile(r.PathValue("email"))
		if ok(w, err) {
			writeRaw(w, http.StatusOK, key)
		}
	})
	mux.HandleFunc("POST /google/service-accounts/{email}/keys", func(w http.ResponseWriter, r *http.Request) {
		key, err := s.AddKey(r.PathValue("email"))
		if ok(w, err) {
			writeRaw(w, http.StatusCreated, key)
		}
	})
	mux.HandleFunc("DELETE /google/service-accounts/{email}/keys/{id}", func(w http.ResponseWriter, r *http.Request) {
		if ok(w, s.DeleteKey(r.PathValue("email"), r.PathValue("id"))) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /google/delegation", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Delegations()) })
	mux.HandleFunc("PUT /google/delegation/{client}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Scopes []string `json:"scopes"`
		}
		if decode(w, r, &body) {
			s.Delegate(r.PathValue("client"), body.Scopes)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("DELETE /google/delegation/{client}", func(w http.ResponseWriter, r *http.Request) {
		s.Delegate(r.PathValue("client"), nil)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /google/users", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Users()) })
	mux.HandleFunc("POST /google/users", func(w http.ResponseWriter, r *http.Request) {
		var u User
		if decode(w, r, &u) {
			s.PutUser(u)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("DELETE /google/users/{email}", func(w http.ResponseWriter, r *http.Request) {
		s.RemoveUser(r.PathValue("email"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /google/acl/{calendar}", func(w http.ResponseWriter, r *http.Request) {
		acl, err := s.ACL(r.PathValue("calendar"))
		if ok(w, err) {
			writeJSON(w, http.StatusOK, acl)
		}
	})
	mux.HandleFunc("PUT /google/acl/{calendar}/{principal}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Role string `json:"role"`
		}
		if decode(w, r, &body) && ok(w, s.SetACL(r.PathValue("calendar"), r.PathValue("principal"), body.Role)) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("DELETE /google/acl/{calendar}/{principal}", func(w http.ResponseWriter, r *http.Request) {
		if ok(w, s.SetACL(r.PathValue("calendar"), r.PathValue("principal"), "")) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /google/resources", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Resources()) })
	mux.HandleFunc("GET /google/overlays", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Overlays()) })
	mux.HandleFunc("PUT /google/overlays/{calendar}/{event}", func(w http.ResponseWriter, r *http.Request) {
		var o Overlay
		if decode(w, r, &o) && ok(w, s.SetOverlay(r.PathValue("calendar"), r.PathValue("event"), o)) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("PUT /google/overlays/{calendar}/{event}/meet", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Code             string `json:"code"`
			SIP              bool   `json:"sip"`
			EmptyDescription bool   `json:"empty_description"`
		}
		if decode(w, r, &body) && ok(w, s.SetOverlay(r.PathValue("calendar"), r.PathValue("event"),
			Overlay{Conference: MeetConference(body.Code, body.SIP), EmptyDescription: body.EmptyDescription})) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("DELETE /google/overlays/{calendar}/{event}", func(w http.ResponseWriter, r *http.Request) {
		if ok(w, s.SetOverlay(r.PathValue("calendar"), r.PathValue("event"), Overlay{})) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /google/settings", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Settings()) })
	mux.HandleFunc("PATCH /google/settings", func(w http.ResponseWriter, r *http.Request) {
		var p SettingsPatch
		if decode(w, r, &p) {
			s.SetSettings(p)
			writeJSON(w, http.StatusOK, s.Settings())
		}
	})
	mux.HandleFunc("GET /google/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("POST /google/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		id, err := s.AddFault(f)
		if ok(w, err) {
			writeJSON(w, http.StatusCreated, map[string]string{"id": id})
		}
	})
	mux.HandleFunc("DELETE /google/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /google/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.RemoveFault(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /google/sync-tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		if ok(w, s.ExpireSyncTokens(r.URL.Query().Get("calendar"))) {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /google/channels", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Channels()) })
	mux.HandleFunc("POST /google/channels/lose", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Count int `json:"count"`
		}
		if decode(w, r, &body) {
			s.LoseNotifications(body.Count)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /google/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("DELETE /google/stats", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
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

func ok(w http.ResponseWriter, err error) bool {
	if err == nil {
		return true
	}
	status := http.StatusBadRequest
	if strings.Contains(err.Error(), "not found") {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
	return false
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
