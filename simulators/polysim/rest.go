package polysim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// restServer is an endpoint's VideoOS-like REST surface on its own loopback address, with a
// self-signed certificate as Poly endpoints ship (a reboot makes a new one).
type restServer struct {
	ep   *Endpoint
	l    net.Listener
	srv  *http.Server
	boot time.Time

	mu          sync.Mutex
	cert        tls.Certificate
	sessions    map[string]bool
	conferences []Conference
	nextConf    int
	logins      int
}

// Conference is a call the endpoint placed (Join pressed, or POST /rest/conferences).
type Conference struct {
	ID       int       `json:"id"`
	Address  string    `json:"address"`
	DialType string    `json:"dialType"`
	Meeting  string    `json:"meetingId,omitempty"`
	Started  time.Time `json:"startTime"`
	Active   bool      `json:"isActive"`
}

func newRESTServer(ep *Endpoint) (*restServer, error) {
	cert, err := simtls.SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rs := &restServer{ep: ep, l: l, cert: cert, sessions: map[string]bool{}, boot: ep.fleet.opts.Now()}
	rs.srv = &http.Server{
		Handler:           rs.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // handshake refusals are what tests provoke
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			c := rs.cert
			return &c, nil
		}},
	}
	go func() { _ = rs.srv.ServeTLS(l, "", "") }()
	return rs, nil
}

func (rs *restServer) url() string { return "https://" + rs.l.Addr().String() }

func (rs *restServer) close() { _ = rs.srv.Close() }

func (rs *restServer) certificate() tls.Certificate {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.cert
}

// reboot drops every session and active call and presents a new certificate.
func (rs *restServer) reboot() error {
	cert, err := simtls.SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	rs.mu.Lock()
	rs.cert = cert
	rs.sessions = map[string]bool{}
	rs.conferences = nil
	rs.boot = rs.ep.fleet.opts.Now()
	rs.mu.Unlock()
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (rs *restServer) authed(r *http.Request) bool {
	c, err := r.Cookie("session_id")
	if err != nil {
		return false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.sessions[c.Value]
}

func (rs *restServer) handler() http.Handler {
	mux := http.NewServeMux()
	login := func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User     string `json:"user"`
			Password string `json:"password"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "reason": "bad JSON"})
			return
		}
		if body.User != rs.ep.opts.RESTUser || body.Password != rs.ep.opts.RESTPassword {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"success": false, "reason": "Invalid username or password"})
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		rs.mu.Lock()
		rs.sessions[id] = true
		rs.logins++
		rs.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "session_id", Value: id, Path: "/", HttpOnly: true, Secure: true})
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "sessionId": id, "userId": body.User, "role": "ADMIN"})
	}
	logout := func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session_id"); err == nil {
			rs.mu.Lock()
			delete(rs.sessions, c.Value)
			rs.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("POST /rest/session", login)
	mux.HandleFunc("POST /rest/current/session", login)
	mux.HandleFunc("DELETE /rest/session", logout)
	mux.HandleFunc("DELETE /rest/current/session", logout)

	need := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !rs.authed(r) {
				writeJSON(w, http.StatusForbidden, map[string]any{"success": false, "reason": "session expired or missing"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /rest/system", need(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		boot := rs.boot
		rs.mu.Unlock()
		o := rs.ep.opts
		build := o.Software[strings.LastIndexByte(o.Software, '-')+1:]
		serial := sha256.Sum256([]byte(o.Name))
		writeJSON(w, http.StatusOK, map[string]any{
			"model": o.Model, "softwareVersion": o.Software, "build": build, "serialNumber": "82" + strings.ToUpper(hex.EncodeToString(serial[:5])),
			"systemName": o.Name, "state": "AWAKE", "uptime": int(rs.ep.fleet.opts.Now().Sub(boot).Seconds()),
			"rebootNeeded": false, "systemTime": rs.ep.fleet.opts.Now().UnixMilli(),
			"lanStatus": map[string]any{"duplex": "FULL", "speedMbps": 1000, "state": "UP"},
		})
	}))
	mux.HandleFunc("GET /rest/system/status", need(func(w http.ResponseWriter, r *http.Request) {
		st := rs.ep.Status()
		cal := "green"
		if st.State != StateOnline {
			cal = "red"
		}
		writeJSON(w, http.StatusOK, []map[string]any{
			{"name": "system.status.calendar", "langtag": "calendar", "stateList": []string{cal}},
			{"name": "system.status.ipnetwork", "langtag": "ipnetwork", "stateList": []string{"green"}},
		})
	}))
	mux.HandleFunc("GET /rest/calendar", need(func(w http.ResponseWriter, r *http.Request) {
		st := rs.ep.Status()
		writeJSON(w, http.StatusOK, map[string]any{"status": st.State, "server": rs.ep.opts.EWSURL, "lastSyncTime": unixOrZero(st.LastSuccess)})
	}))
	mux.HandleFunc("GET /rest/calendar/meetings", need(func(w http.ResponseWriter, r *http.Request) {
		st := rs.ep.Status()
		q := r.URL.Query()
		out := []map[string]any{}
		for _, m := range st.Meetings {
			if s, err := strconv.ParseInt(q.Get("start"), 10, 64); err == nil && m.End.Unix() <= s {
				continue
			}
			if e, err := strconv.ParseInt(q.Get("end"), 10, 64); err == nil && m.Start.Unix() >= e {
				continue
			}
			out = append(out, videoOSMeeting(m, st))
			if n, err := strconv.Atoi(q.Get("number")); err == nil && len(out) >= n {
				break
			}
		}
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /rest/calendar/meetings/{id}", need(func(w http.ResponseWriter, r *http.Request) {
		st := rs.ep.Status()
		for _, m := range st.Meetings {
			if m.ID == r.PathValue("id") {
				writeJSON(w, http.StatusOK, videoOSMeeting(m, st))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "reason": "no such meeting"})
	}))
	// Pressing Join: dial the meeting's dial string.
	mux.HandleFunc("POST /rest/calendar/meetings/{id}", need(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range rs.ep.Meetings() {
			if m.ID != r.PathValue("id") {
				continue
			}
			if !m.CanDial {
				writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "reason": "the meeting has no dialable address"})
				return
			}
			c := rs.dial(m.DialString, strings.ToUpper(m.Protocol), m.ID)
			writeJSON(w, http.StatusOK, []map[string]any{{"href": "/rest/conferences/" + strconv.Itoa(c.ID)}})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "reason": "no such meeting"})
	}))
	mux.HandleFunc("GET /rest/conferences", need(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, rs.activeConferences())
	}))
	mux.HandleFunc("POST /rest/conferences", need(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Address  string `json:"address"`
			DialType string `json:"dialType"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.Address == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "reason": "address is required"})
			return
		}
		c := rs.dial(body.Address, body.DialType, "")
		writeJSON(w, http.StatusOK, []map[string]any{{"href": "/rest/conferences/" + strconv.Itoa(c.ID)}})
	}))
	mux.HandleFunc("DELETE /rest/conferences/{id}", need(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		rs.mu.Lock()
		defer rs.mu.Unlock()
		for i := range rs.conferences {
			if rs.conferences[i].ID == id && rs.conferences[i].Active {
				rs.conferences[i].Active = false
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	return mux
}

func (rs *restServer) dial(address, dialType, meeting string) Conference {
	if dialType == "" {
		dialType = "AUTO"
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c := Conference{ID: rs.nextConf, Address: address, DialType: dialType, Meeting: meeting, Started: rs.ep.fleet.opts.Now(), Active: true}
	rs.nextConf++
	rs.conferences = append(rs.conferences, c)
	return c
}

func (rs *restServer) activeConferences() []Conference {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := []Conference{}
	for _, c := range rs.conferences {
		if c.Active {
			out = append(out, c)
		}
	}
	return out
}

func (rs *restServer) allConferences() []Conference {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]Conference{}, rs.conferences...)
}

// videoOSMeeting is a meeting in VideoOS's shape (times in epoch seconds).
func videoOSMeeting(m Meeting, st Status) map[string]any {
	return map[string]any{
		"id": m.ID, "subject": m.Subject, "location": m.Location, "body": m.Body, "organizer": m.Organizer,
		"startTime": m.Start.Unix(), "endTime": m.End.Unix(), "duration": int(m.End.Sub(m.Start).Seconds()),
		"canDial": m.CanDial, "dialString": m.DialString, "privateMeeting": m.Private, "canceled": false,
		"recurring": m.Recurring, "inCall": false, "lastSyncTime": unixOrZero(st.LastSuccess),
	}
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
