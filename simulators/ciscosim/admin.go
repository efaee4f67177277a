package ciscosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// AdminHandler is the fleet's admin API (plain HTTP, JSON; simulators/README.md):
//
//	GET  /codecs                          every codec: name, url, profile, fingerprint, up
//	GET  /codecs/puts                     every codec's count of Puts received: {"name": n, …}
//	GET  /codecs/{name}/bookings          current bookings, in the Bookings Put JSON form
//	GET  /codecs/{name}/puts              every Put received, with times
//	GET  /codecs/{name}/stats             handshakes by status, connections, requests, puts
//	POST /codecs/{name}/reboot            {"down_ms": 2000, "not_ready_ms": 0, "keep_bookings": false}
//	POST /codecs/{name}/drop              cut every connection
//	POST /codecs/{name}/freeze            open connections hang: no answers, no pongs
//	GET  /codecs/{name}/faults            the injected faults
//	POST /codecs/{name}/faults            replace them (see faultsJSON)
//	POST /codecs/{name}/certificate       new self-signed certificate → {"fingerprint": …}
//	POST /codecs/{name}/foreign-put       body: a Bookings Put document pushed by "another system"
//	POST /codecs/{name}/call              {"number": …, "protocol": …, "booking_id": …} → {"call_id": n}
//	POST /codecs/{name}/hangup            end every call
//	PUT  /codecs/{name}/users/{username}  {"password": …, "roles": ["Admin"]}
//	POST /codecs/{name}/profile           {"profile": "ce9.15", "cloud_registered": true}
//	POST /tick                            evaluate booking events now
func (f *Fleet) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /codecs", func(w http.ResponseWriter, _ *http.Request) {
		out := []map[string]any{}
		for _, c := range f.Codecs() {
			out = append(out, map[string]any{
				"name": c.Name(), "url": c.URL(), "profile": c.Profile().Name, "fingerprint": c.Fingerprint(), "up": c.Up(),
			})
		}
		writeJSON(w, http.StatusOK, out)
	})
	// One answer for the whole fleet, so an observer (make bench's cold start) can read only the
	// codecs that received a Put since it last looked instead of every codec's bookings.
	mux.HandleFunc("GET /codecs/puts", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]int{}
		for _, c := range f.Codecs() {
			out[c.Name()] = c.PutCount()
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /codecs/{name}/bookings", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		list := c.Bookings()
		if list == nil {
			list = []Booking{}
		}
		writeJSON(w, http.StatusOK, PutPayload{Bookings: list})
	}))
	mux.HandleFunc("GET /codecs/{name}/puts", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		puts := c.Puts()
		if puts == nil {
			puts = []PutRecord{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"puts": puts})
	}))
	mux.HandleFunc("GET /codecs/{name}/stats", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		writeJSON(w, http.StatusOK, c.Stats())
	}))
	mux.HandleFunc("POST /codecs/{name}/reboot", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		var in struct {
			DownMS       int   `json:"down_ms"`
			NotReadyMS   int   `json:"not_ready_ms"`
			KeepBookings *bool `json:"keep_bookings"`
		}
		if !readJSON(w, r, &in, true) {
			return
		}
		o := RebootOptions{Down: time.Duration(in.DownMS) * time.Millisecond, NotReady: time.Duration(in.NotReadyMS) * time.Millisecond, KeepBookings: in.KeepBookings}
		c.Reboot(o)
		writeJSON(w, http.StatusOK, map[string]any{"up_at": c.UpAt()})
	}))
	mux.HandleFunc("POST /codecs/{name}/drop", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		c.DropConnections()
		writeJSON(w, http.StatusOK, map[string]any{"dropped": true})
	}))
	mux.HandleFunc("POST /codecs/{name}/freeze", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		c.FreezeConnections()
		writeJSON(w, http.StatusOK, map[string]any{"frozen": true})
	}))
	mux.HandleFunc("GET /codecs/{name}/faults", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		writeJSON(w, http.StatusOK, toFaultsJSON(c.Faults()))
	}))
	mux.HandleFunc("POST /codecs/{name}/faults", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		var in faultsJSON
		if !readJSON(w, r, &in, false) {
			return
		}
		c.SetFaults(in.faults())
		writeJSON(w, http.StatusOK, toFaultsJSON(c.Faults()))
	}))
	mux.HandleFunc("POST /codecs/{name}/certificate", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		fp, err := c.RotateCertificate()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"fingerprint": fp})
	}))
	mux.HandleFunc("POST /codecs/{name}/foreign-put", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := c.ForeignPut(string(body)); err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"bookings": len(c.Bookings())})
	}))
	mux.HandleFunc("POST /codecs/{name}/call", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		var in struct {
			Number    string `json:"number"`
			Protocol  string `json:"protocol"`
			BookingID string `json:"booking_id"`
		}
		if !readJSON(w, r, &in, false) {
			return
		}
		if in.Number == "" {
			writeError(w, http.StatusBadRequest, "number is required")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"call_id": c.Dial(in.Number, in.Protocol, in.BookingID)})
	}))
	mux.HandleFunc("POST /codecs/{name}/hangup", f.withCodec(func(w http.ResponseWriter, _ *http.Request, c *Codec) {
		writeJSON(w, http.StatusOK, map[string]any{"ended": c.Hangup(0)})
	}))
	mux.HandleFunc("PUT /codecs/{name}/users/{username}", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		var in struct {
			Password string   `json:"password"`
			Roles    []string `json:"roles"`
		}
		if !readJSON(w, r, &in, false) {
			return
		}
		c.SetUser(User{Username: r.PathValue("username"), Password: in.Password, Roles: in.Roles})
		writeJSON(w, http.StatusOK, map[string]any{"username": r.PathValue("username"), "roles": in.Roles})
	}))
	mux.HandleFunc("POST /codecs/{name}/profile", f.withCodec(func(w http.ResponseWriter, r *http.Request, c *Codec) {
		var in struct {
			Profile         string `json:"profile"`
			CloudRegistered *bool  `json:"cloud_registered"`
		}
		if !readJSON(w, r, &in, false) {
			return
		}
		p, ok := Profiles[in.Profile]
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("profile %q is not one of %s", in.Profile, ProfileNames()))
			return
		}
		if in.CloudRegistered != nil {
			c.SetCloudRegistered(*in.CloudRegistered)
		}
		c.SetProfile(p)
		writeJSON(w, http.StatusOK, map[string]any{"profile": p.Name, "version": p.Version})
	}))
	mux.HandleFunc("POST /tick", func(w http.ResponseWriter, _ *http.Request) {
		for _, c := range f.Codecs() {
			c.Tick()
		}
		writeJSON(w, http.StatusOK, map[string]any{"now": f.now()})
	})
	return mux
}

// faultsJSON is Faults on the wire (durations in milliseconds).
type faultsJSON struct {
	DelayMS            int    `json:"delay_ms"`
	Reorder            bool   `json:"reorder"`
	InterleaveFeedback bool   `json:"interleave_feedback"`
	DropNext           string `json:"drop_next"`
	DropApplies        bool   `json:"drop_applies"`
	HandshakeStatus    int    `json:"handshake_status"`
	JunkFrames         bool   `json:"junk_frames"`
}

func (j faultsJSON) faults() Faults {
	return Faults{
		Delay: time.Duration(j.DelayMS) * time.Millisecond, Reorder: j.Reorder, InterleaveFeedback: j.InterleaveFeedback,
		DropNext: j.DropNext, DropApplies: j.DropApplies, HandshakeStatus: j.HandshakeStatus, JunkFrames: j.JunkFrames,
	}
}

func toFaultsJSON(f Faults) faultsJSON {
	return faultsJSON{
		DelayMS: int(f.Delay / time.Millisecond), Reorder: f.Reorder, InterleaveFeedback: f.InterleaveFeedback,
		DropNext: f.DropNext, DropApplies: f.DropApplies, HandshakeStatus: f.HandshakeStatus, JunkFrames: f.JunkFrames,
	}
}

func (f *Fleet) withCodec(h func(http.ResponseWriter, *http.Request, *Codec)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := f.Codec(r.PathValue("name"))
		if c == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no codec named %q", r.PathValue("name")))
			return
		}
		h(w, r, c)
	}
}

// readJSON decodes the request body strictly; an empty body is allowed when optional.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if len(body) == 0 && optional {
		return true
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
