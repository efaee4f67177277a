package webexsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

// AdminHandler is the admin API (plain HTTP, JSON), in the shape of ciscosim's; {id} is a
// device id or display name:
//
//	GET    /devices                     every device: id, display_name, workspace, email, connection_status, permissions, profile
//	GET    /devices/{id}/bookings       current bookings, in the Bookings Put JSON form
//	GET    /devices/{id}/puts           every Bookings.Put received, with times
//	GET    /devices/{id}/stats          requests naming the device, by endpoint; commands by name; puts
//	POST   /devices/{id}/connection     {"status": "disconnected"} (any connectionStatus value)
//	POST   /devices/{id}/permissions    {"permissions": ["xapi:readonly"]} ([] removes xAPI access)
//	POST   /devices/{id}/profile        {"profile": "roomos26"} (ciscosim's firmware profiles)
//	POST   /devices/{id}/foreign-put    body: a Bookings Put document pushed by "another system"
//	POST   /devices                     {"display_name", "workspace", "email", "connection_status", "permissions"} → {"id"}
//	GET    /stats                       counters: requests by endpoint and status, 429s, violations, tokens, per device
//	GET    /faults                      pending injected faults
//	POST   /faults                      {"rate_limit_count": 3, "rate_limit_retry_after_s": 5, "error_status": 503, "error_count": 2, "error_path_prefix": "/v1/xapi/"}
//	DELETE /faults                      clear them
//	GET    /settings, PATCH /settings   latency_ms, rate_limit, rate_window_ms, rotation_grace_ms, access_token_ttl_s, offline_status
//	POST   /tokens/issue                {"scopes": [...]} → a new authorisation's token pair
//	POST   /tokens/code                 {"scopes": [...]} → {"code"} for the authorization_code grant
//	POST   /tokens/bot                  {"scopes": [...]} → {"access_token"} of a new bot
//	POST   /tokens/revoke               {"token": "…"} one token; {"token": "…", "grant": true} its whole authorisation; {"all": true} everything
//	GET    /tokens/state?token=…        {"state": "active|rotated|revoked|expired|unknown"}
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Devices())
	})
	mux.HandleFunc("POST /devices", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			DisplayName      string   `json:"display_name"`
			Workspace        string   `json:"workspace"`
			Email            string   `json:"email"`
			ConnectionStatus string   `json:"connection_status"`
			Permissions      []string `json:"permissions"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		id, err := s.AddDevice(DeviceConfig{DisplayName: in.DisplayName, Workspace: in.Workspace, Email: in.Email,
			ConnectionStatus: in.ConnectionStatus, Permissions: in.Permissions})
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		adminJSON(w, http.StatusOK, map[string]string{"id": id})
	})
	mux.HandleFunc("GET /devices/{id}/bookings", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.Bookings(r.PathValue("id"))
		if notFound(w, err) {
			return
		}
		adminJSON(w, http.StatusOK, ciscosim.PutPayload{Bookings: list})
	})
	mux.HandleFunc("GET /devices/{id}/puts", func(w http.ResponseWriter, r *http.Request) {
		puts, err := s.Puts(r.PathValue("id"))
		if notFound(w, err) {
			return
		}
		adminJSON(w, http.StatusOK, map[string]any{"puts": puts})
	})
	mux.HandleFunc("GET /devices/{id}/stats", func(w http.ResponseWriter, r *http.Request) {
		var id string
		if notFound(w, s.withDevice(r.PathValue("id"), func(d *device) { id = d.id })) {
			return
		}
		ds := s.Stats().Devices[id]
		if ds.ByEndpoint == nil {
			ds.ByEndpoint, ds.Commands = map[string]int{}, map[string]int{}
		}
		adminJSON(w, http.StatusOK, ds)
	})
	mux.HandleFunc("POST /devices/{id}/connection", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Status string `json:"status"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.deviceOp(w, r, s.SetConnectionStatus(r.PathValue("id"), in.Status))
	})
	mux.HandleFunc("POST /devices/{id}/permissions", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Permissions []string `json:"permissions"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.deviceOp(w, r, s.SetPermissions(r.PathValue("id"), in.Permissions))
	})
	mux.HandleFunc("POST /devices/{id}/profile", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Profile string `json:"profile"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		p, ok := ciscosim.Profiles[in.Profile]
		if !ok {
			adminError(w, http.StatusBadRequest, fmt.Sprintf("profile %q is not one of %s", in.Profile, ciscosim.ProfileNames()))
			return
		}
		s.deviceOp(w, r, s.SetProfile(r.PathValue("id"), p))
	})
	mux.HandleFunc("POST /devices/{id}/foreign-put", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := s.ForeignPut(r.PathValue("id"), string(body)); err != nil {
			adminError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		list, _ := s.Bookings(r.PathValue("id"))
		adminJSON(w, http.StatusOK, map[string]any{"bookings": len(list)})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { adminJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) { adminJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var in Faults
		if !readJSON(w, r, &in) {
			return
		}
		if in.ErrorCount > 0 && (in.ErrorStatus < 400 || in.ErrorStatus > 599) {
			adminError(w, http.StatusBadRequest, "error_status must be an HTTP error status (400–599)")
			return
		}
		s.RateLimitBurst(in.RateLimitCount, time.Duration(in.RateLimitRetryAfterS)*time.Second)
		s.FailNext(in.ErrorCount, in.ErrorStatus, in.ErrorPathPrefix)
		adminJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		adminJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /settings", func(w http.ResponseWriter, _ *http.Request) { adminJSON(w, http.StatusOK, s.Settings()) })
	mux.HandleFunc("PATCH /settings", func(w http.ResponseWriter, r *http.Request) {
		var in Settings
		if !readJSON(w, r, &in) {
			return
		}
		adminJSON(w, http.StatusOK, s.SetSettings(in))
	})
	scopes := func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
		var in struct {
			Scopes []string `json:"scopes"`
		}
		ok := readJSONOptional(w, r, &in)
		return in.Scopes, ok
	}
	mux.HandleFunc("POST /tokens/issue", func(w http.ResponseWriter, r *http.Request) {
		if sc, ok := scopes(w, r); ok {
			adminJSON(w, http.StatusOK, s.IssueTokens(sc))
		}
	})
	mux.HandleFunc("POST /tokens/code", func(w http.ResponseWriter, r *http.Request) {
		if sc, ok := scopes(w, r); ok {
			adminJSON(w, http.StatusOK, map[string]string{"code": s.IssueCode(sc)})
		}
	})
	mux.HandleFunc("POST /tokens/bot", func(w http.ResponseWriter, r *http.Request) {
		if sc, ok := scopes(w, r); ok {
			adminJSON(w, http.StatusOK, map[string]string{"access_token": s.BotToken(sc)})
		}
	})
	mux.HandleFunc("POST /tokens/revoke", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Token string `json:"token"`
			Grant bool   `json:"grant"`
			All   bool   `json:"all"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		var ok bool
		switch {
		case in.All:
			ok = s.Revoke("", true)
		case in.Grant:
			ok = s.RevokeGrantOf(in.Token)
		default:
			ok = s.Revoke(in.Token, false)
		}
		if !ok {
			adminError(w, http.StatusNotFound, "no such token")
			return
		}
		adminJSON(w, http.StatusOK, map[string]bool{"revoked": true})
	})
	mux.HandleFunc("GET /tokens/state", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, map[string]string{"state": s.TokenState(r.URL.Query().Get("token"))})
	})
	return mux
}

func (s *Server) deviceOp(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		status := http.StatusBadRequest
		if s.withDevice(r.PathValue("id"), func(*device) {}) != nil {
			status = http.StatusNotFound
		}
		adminError(w, status, err.Error())
		return
	}
	for _, d := range s.Devices() {
		if d.ID == r.PathValue("id") || d.DisplayName == r.PathValue("id") {
			adminJSON(w, http.StatusOK, d)
			return
		}
	}
}

func notFound(w http.ResponseWriter, err error) bool {
	if err != nil {
		adminError(w, http.StatusNotFound, err.Error())
		return true
	}
	return false
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func readJSONOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	return readJSON(w, r, v)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	adminJSON(w, status, map[string]string{"error": msg})
}
