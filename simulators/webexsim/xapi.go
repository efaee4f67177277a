package webexsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

// commandRequest is the body of POST /v1/xapi/command/{commandName}.
type commandRequest struct {
	DeviceID  string          `json:"deviceId"`
	Arguments map[string]any  `json:"arguments"`
	Body      json.RawMessage `json:"body"`
}

// reachLocked checks that the device exists, is connected and grants perm; it answers the error
// itself and returns nil when not.
func (s *Server) reachLocked(id string, needAll bool) (*device, int, string) {
	var d *device
	for _, x := range s.devices {
		if x.id == id {
			d = x
		}
	}
	switch {
	case id == "":
		return nil, http.StatusBadRequest, "deviceId is required."
	case d == nil:
		return nil, http.StatusNotFound, msgNotFound
	case len(d.permissions) == 0:
		return nil, http.StatusForbidden, "The device does not allow xAPI access (no xapi permission)."
	case needAll && !slices.Contains(d.permissions, PermXAPIAll):
		return nil, http.StatusForbidden, "The device only allows read-only xAPI access (xapi:readonly): commands need xapi:all."
	case d.connectionStatus != Connected && d.connectionStatus != ConnectedWithIssues:
		return nil, s.settings.OfflineStatus, fmt.Sprintf("Device %s is not connected (connectionStatus %s): the command could not be delivered.", id, d.connectionStatus)
	}
	return d, 0, ""
}

// handleCommand is POST /v1/xapi/command/{commandName}: the Bookings commands.
func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, at *accessToken) {
	name := r.PathValue("name")
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		s.writeErr(w, http.StatusBadRequest, "Could not read the request body.")
		return
	}
	var req commandRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeErr(w, http.StatusBadRequest, "The request body is not valid JSON for an xAPI command: "+err.Error())
		return
	}
	if req.Arguments == nil {
		req.Arguments = map[string]any{}
	}
	cmd, known := canonicalCommand(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	d, status, msg := s.reachLocked(req.DeviceID, true)
	if d != nil || status != http.StatusBadRequest {
		s.countDeviceLocked(req.DeviceID, "POST /v1/xapi/command/{name}", cmd)
	}
	if d == nil {
		s.writeErrLocked(w, status, msg)
		return
	}
	if !known {
		s.writeErrLocked(w, http.StatusBadRequest, "Unknown command "+name+".")
		return
	}
	var result map[string]any
	switch cmd {
	case "Bookings.Put":
		result, status, msg = s.putLocked(d, req, at)
	case "Bookings.Clear":
		if d.profile.TeamsRooms {
			status, msg = http.StatusBadRequest, "Command not available: the device is in Microsoft Teams Rooms mode."
			break
		}
		d.bookings = nil
		result = map[string]any{"status": "OK"}
	case "Bookings.List":
		var err error
		result, err = ciscosim.ListBookings(d.bookings, s.now(), s.opts.Location, req.Arguments)
		if err != nil {
			status, msg = http.StatusBadRequest, "Invalid argument: "+err.Error()
		}
	case "Bookings.Get", "Bookings.Delete":
		result, status, msg = s.getDeleteLocked(d, cmd, req.Arguments)
	}
	if status != 0 {
		s.writeErrLocked(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deviceId": d.id, "arguments": req.Arguments, "result": result})
}

// writeErrLocked is writeErr while s.mu is held (trackingID does not lock).
func (s *Server) writeErrLocked(w http.ResponseWriter, status int, msg string) {
	s.writeErr(w, status, msg)
}

var commands = []string{"Bookings.Put", "Bookings.Clear", "Bookings.List", "Bookings.Get", "Bookings.Delete"}

func canonicalCommand(name string) (string, bool) {
	for _, c := range commands {
		if strings.EqualFold(c, name) {
			return c, true
		}
	}
	return name, false
}

// putLocked is Bookings.Put: body is the Bookings document (a JSON object or a string holding
// one), validated by ciscosim.ParsePut against the device's firmware; a full replace.
func (s *Server) putLocked(d *device, req commandRequest, at *accessToken) (map[string]any, int, string) {
	body := ""
	if len(req.Body) > 0 && !bytes.Equal(req.Body, []byte("null")) {
		var str string
		if json.Unmarshal(req.Body, &str) == nil {
			body = str
		} else {
			body = string(req.Body)
		}
	}
	sum := sha256.Sum256([]byte(body))
	rec := ciscosim.PutRecord{At: s.now(), User: at.grant.id, Source: "cloud-xapi", Body: body, Hash: hex.EncodeToString(sum[:])}
	status, msg := 0, ""
	var list []ciscosim.Booking
	switch {
	case len(req.Arguments) > 0:
		status, msg = http.StatusBadRequest, "Bookings.Put takes no arguments (the bookings go in body)."
	case body == "":
		status, msg = http.StatusBadRequest, "Bookings.Put needs a body: the Bookings document."
	case d.profile.TeamsRooms:
		status, msg = http.StatusBadRequest, "Command not available: the device is in Microsoft Teams Rooms mode."
	default:
		var err error
		if list, err = ciscosim.ParsePut(body, d.profile); err != nil {
			status, msg = http.StatusBadRequest, "Invalid body: "+err.Error()
		}
	}
	if status != 0 {
		rec.Error = msg
	} else {
		rec.Accepted, rec.Bookings, rec.Count = true, list, len(list)
		d.bookings = append([]ciscosim.Booking(nil), list...)
		ciscosim.SortBookings(d.bookings)
	}
	s.recordPutLocked(d, rec)
	if status != 0 {
		s.log.Info("webex bookings put refused", "device", d.displayName, "err", msg)
		return nil, status, msg
	}
	s.log.Info("webex bookings put", "device", d.displayName, "bookings", len(list))
	return map[string]any{"status": "OK"}, 0, ""
}

func (s *Server) recordPutLocked(d *device, rec ciscosim.PutRecord) {
	d.puts = append(d.puts, rec)
	ds := s.stats.Devices[d.id]
	ds.Puts++
	s.stats.Devices[d.id] = ds
	close(d.putSignal)
	d.putSignal = make(chan struct{})
}

func (s *Server) getDeleteLocked(d *device, cmd string, args map[string]any) (map[string]any, int, string) {
	id, _ := args["Id"].(string)
	if id == "" || len(id) > 128 {
		return nil, http.StatusBadRequest, "Invalid argument: Id (1–128 characters) is required."
	}
	for i, b := range d.bookings {
		if b.Id != id {
			continue
		}
		if cmd == "Bookings.Get" {
			return map[string]any{"status": "OK", "Booking": ciscosim.ListItem(i, b)}, 0, ""
		}
		d.bookings = append(d.bookings[:i:i], d.bookings[i+1:]...)
		return map[string]any{"status": "OK"}, 0, ""
	}
	return nil, http.StatusBadRequest, "No booking found with Id " + id + "."
}

// handleStatus is GET /v1/xapi/status?deviceId=&name=…: up to 10 status expressions (dotted
// paths, case-insensitive, a trailing ".*" or a branch selects everything under it), answered
// as one nested object.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	q := r.URL.Query()
	names := q["name"]
	if len(names) == 0 || len(names) > 10 {
		s.writeErr(w, http.StatusBadRequest, "name must be given 1 to 10 times.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, status, msg := s.reachLocked(q.Get("deviceId"), false)
	if d != nil || status != http.StatusBadRequest {
		s.countDeviceLocked(q.Get("deviceId"), "GET /v1/xapi/status", "")
	}
	if d == nil {
		s.writeErrLocked(w, status, msg)
		return
	}
	tree := s.statusTreeLocked(d)
	result := map[string]any{}
	for _, n := range names {
		path := strings.Split(strings.TrimSuffix(strings.TrimSuffix(n, ".*"), "*"), ".")
		if !merge(result, tree, path) {
			s.writeErrLocked(w, http.StatusBadRequest, "No status matches "+n+".")
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deviceId": d.id, "result": result})
}

func (s *Server) statusTreeLocked(d *device) map[string]any {
	now := s.now()
	current := ciscosim.CurrentBooking(d.bookings, now)
	avail, stamp := "Free", ""
	for _, b := range d.bookings {
		if current != "" && b.Id == current {
			avail, stamp = "BookedUntil", b.EndAt().UTC().Format("2006-01-02T15:04:05Z")
			break
		}
		if current == "" && b.StartAt().After(now) {
			avail, stamp = "FreeUntil", b.StartAt().UTC().Format("2006-01-02T15:04:05Z")
			break
		}
	}
	return map[string]any{
		"SystemUnit": map[string]any{
			"ProductId":       "Cisco " + strings.TrimPrefix(d.product, "Cisco "),
			"ProductPlatform": strings.TrimPrefix(d.product, "Cisco "),
			"Software":        map[string]any{"Version": d.profile.Version, "DisplayName": d.profile.DisplayName, "Name": "s53300"},
			"Hardware":        map[string]any{"Module": map[string]any{"SerialNumber": d.serial}},
			"State":           map[string]any{"NumberOfActiveCalls": 0, "NumberOfInProgressCalls": 0, "NumberOfSuspendedCalls": 0},
		},
		"Bookings": map[string]any{
			"Current":      map[string]any{"Id": current},
			"Availability": map[string]any{"Status": avail, "TimeStamp": stamp},
		},
		"Webex": map[string]any{"Status": "Registered"},
	}
}

// merge copies the subtree at path (case-insensitive keys) from src into dst, nested under the
// canonical key names; false when the path does not exist.
func merge(dst, src map[string]any, path []string) bool {
	if len(path) == 0 || path[0] == "" {
		for k, v := range src {
			dst[k] = v
		}
		return true
	}
	for k, v := range src {
		if !strings.EqualFold(k, path[0]) {
			continue
		}
		if len(path) == 1 {
			dst[k] = v
			return true
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return false
		}
		next, _ := dst[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
		}
		if !merge(next, sub, path[1:]) {
			return false
		}
		dst[k] = next
		return true
	}
	return false
}

// Bookings returns the device's current bookings (the Put form).
func (s *Server) Bookings(key string) ([]ciscosim.Booking, error) {
	var out []ciscosim.Booking
	err := s.withDevice(key, func(d *device) { out = append([]ciscosim.Booking{}, d.bookings...) })
	return out, err
}

// Puts returns every Bookings.Put the device received, oldest first.
func (s *Server) Puts(key string) ([]ciscosim.PutRecord, error) {
	var out []ciscosim.PutRecord
	err := s.withDevice(key, func(d *device) { out = append([]ciscosim.PutRecord{}, d.puts...) })
	return out, err
}

// PutSignal returns a channel closed at the device's next Bookings.Put (accepted or not).
func (s *Server) PutSignal(key string) (<-chan struct{}, error) {
	var ch chan struct{}
	err := s.withDevice(key, func(d *device) { ch = d.putSignal })
	return ch, err
}

// ForeignPut replaces the device's bookings as another system would (Webex Hybrid Calendar, a
// second pusher), recorded with source "admin".
func (s *Server) ForeignPut(key, body string) error {
	var perr error
	err := s.withDevice(key, func(d *device) {
		sum := sha256.Sum256([]byte(body))
		rec := ciscosim.PutRecord{At: s.now(), User: "other-system", Source: "admin", Body: body, Hash: hex.EncodeToString(sum[:])}
		list, err := ciscosim.ParsePut(body, d.profile)
		if err != nil {
			perr, rec.Error = err, err.Error()
		} else {
			rec.Accepted, rec.Bookings, rec.Count = true, list, len(list)
			d.bookings = append([]ciscosim.Booking(nil), list...)
			ciscosim.SortBookings(d.bookings)
		}
		s.recordPutLocked(d, rec)
	})
	if err != nil {
		return err
	}
	return perr
}
