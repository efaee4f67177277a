package webexsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/simulators/ciscosim"
)

// Connection statuses (the devices API's enum).
const (
	Connected           = "connected"
	Disconnected        = "disconnected"
	ConnectedWithIssues = "connected_with_issues"
	OfflineExpired      = "offline_expired"
	Activating          = "activating"
	Unknown             = "unknown"
	OfflineDeepSleep    = "offline_deep_sleep"
)

var connectionStatuses = []string{Connected, Disconnected, ConnectedWithIssues, OfflineExpired, Activating, Unknown, OfflineDeepSleep}

// Permissions.
const (
	PermXAPIAll      = "xapi:all"
	PermXAPIReadonly = "xapi:readonly"
)

// DeviceConfig describes a device to add.
type DeviceConfig struct {
	DisplayName string // required, e.g. "Boardroom Room Bar"
	// Workspace is the display name of the device's workspace (created when new); Email its
	// calendar's address (calendar type microsoft; none when empty).
	Workspace string
	Email     string
	Product   string   // default "Cisco Room Bar"
	Type      string   // default "roomdesk"
	Tags      []string //
	// Permissions: default ["xapi:all"]; ConnectionStatus: default connected.
	Permissions      []string
	ConnectionStatus string
	Profile          ciscosim.Profile // default the server's
}

type device struct {
	id, displayName, workspaceID string
	product, typ                 string
	tags, permissions            []string
	connectionStatus             string
	profile                      ciscosim.Profile
	serial, mac, ip              string
	created                      time.Time
	bookings                     []ciscosim.Booking
	puts                         []ciscosim.PutRecord
	putSignal                    chan struct{}
}

type workspace struct {
	id, displayName, email string
	created                time.Time
}

// webexID is a Webex-style id: base64 of ciscospark://us/<KIND>/<uuid> (URL-safe alphabet, no
// padding, so it can sit in a path), the uuid derived from seed so runs are reproducible.
func webexID(kind, seed string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + seed))
	h := hex.EncodeToString(sum[:16])
	uuid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	return base64.RawURLEncoding.EncodeToString([]byte("ciscospark://us/" + kind + "/" + uuid))
}

// AddWorkspace adds (or finds, by display name) a workspace and returns its id.
func (s *Server) AddWorkspace(displayName, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workspaceLocked(displayName, email).id
}

func (s *Server) workspaceLocked(displayName, email string) *workspace {
	for _, w := range s.workspaces {
		if w.displayName == displayName {
			if email != "" {
				w.email = email
			}
			return w
		}
	}
	w := &workspace{id: webexID("PLACES", displayName), displayName: displayName, email: email, created: s.now().UTC()}
	s.workspaces = append(s.workspaces, w)
	return w
}

// AddDevice adds a device and returns its id.
func (s *Server) AddDevice(cfg DeviceConfig) (string, error) {
	if cfg.DisplayName == "" {
		return "", errors.New("webexsim: DeviceConfig.DisplayName is required")
	}
	if cfg.ConnectionStatus != "" && !slices.Contains(connectionStatuses, cfg.ConnectionStatus) {
		return "", fmt.Errorf("webexsim: connection status %q is not one of %s", cfg.ConnectionStatus, strings.Join(connectionStatuses, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	n := s.seq
	d := &device{
		id: webexID("DEVICE", cfg.DisplayName+"\x00"+strconv.Itoa(n)), displayName: cfg.DisplayName,
		product: orDefault(cfg.Product, "Cisco Room Bar"), typ: orDefault(cfg.Type, "roomdesk"),
		tags: append([]string{}, cfg.Tags...), permissions: cfg.Permissions, connectionStatus: orDefault(cfg.ConnectionStatus, Connected),
		profile: cfg.Profile, serial: fmt.Sprintf("FOC%08d", 24000000+n), mac: fmt.Sprintf("AA:BB:CC:%02X:%02X:%02X", n>>16&255, n>>8&255, n&255),
		ip: fmt.Sprintf("10.20.%d.%d", n/250, n%250+2), created: s.now().UTC(), putSignal: make(chan struct{}),
	}
	if d.permissions == nil {
		d.permissions = []string{PermXAPIAll}
	}
	if d.profile.Name == "" {
		d.profile = s.opts.Profile
	}
	if cfg.Workspace != "" {
		d.workspaceID = s.workspaceLocked(cfg.Workspace, cfg.Email).id
	}
	s.devices = append(s.devices, d)
	return d.id, nil
}

// deviceLocked finds a device by id or display name (the admin API accepts either).
func (s *Server) deviceLocked(key string) *device {
	for _, d := range s.devices {
		if d.id == key {
			return d
		}
	}
	for _, d := range s.devices {
		if d.displayName == key {
			return d
		}
	}
	return nil
}

func (s *Server) withDevice(key string, f func(d *device)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deviceLocked(key)
	if d == nil {
		return fmt.Errorf("no device %q", key)
	}
	f(d)
	return nil
}

// SetConnectionStatus changes what the devices API reports and whether xAPI calls reach the
// device (connected and connected_with_issues do; the rest answer OfflineStatus).
func (s *Server) SetConnectionStatus(key, status string) error {
	if !slices.Contains(connectionStatuses, status) {
		return fmt.Errorf("connection status %q is not one of %s", status, strings.Join(connectionStatuses, ", "))
	}
	return s.withDevice(key, func(d *device) { d.connectionStatus = status })
}

// SetPermissions replaces the device's xAPI permissions (["xapi:readonly"] or none removes
// the right to run commands).
func (s *Server) SetPermissions(key string, perms []string) error {
	for _, p := range perms {
		if p != PermXAPIAll && p != PermXAPIReadonly {
			return fmt.Errorf("permission %q is not xapi:all or xapi:readonly", p)
		}
	}
	return s.withDevice(key, func(d *device) { d.permissions = append([]string{}, perms...) })
}

// SetProfile changes the device's firmware (software string, Bookings Put rules).
func (s *Server) SetProfile(key string, p ciscosim.Profile) error {
	return s.withDevice(key, func(d *device) { d.profile = p })
}

// DeviceInfo is a device as the admin API lists it.
type DeviceInfo struct {
	ID               string   `json:"id"`
	DisplayName      string   `json:"display_name"`
	WorkspaceID      string   `json:"workspace_id,omitempty"`
	Workspace        string   `json:"workspace,omitempty"`
	Email            string   `json:"email,omitempty"`
	ConnectionStatus string   `json:"connection_status"`
	Permissions      []string `json:"permissions"`
	Profile          string   `json:"profile"`
	Software         string   `json:"software"`
}

// Devices lists every device.
func (s *Server) Devices() []DeviceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []DeviceInfo{}
	for _, d := range s.devices {
		in := DeviceInfo{ID: d.id, DisplayName: d.displayName, WorkspaceID: d.workspaceID, ConnectionStatus: d.connectionStatus,
			Permissions: append([]string{}, d.permissions...), Profile: d.profile.Name, Software: d.profile.DisplayName}
		if w := s.workspaceByIDLocked(d.workspaceID); w != nil {
			in.Workspace, in.Email = w.displayName, w.email
		}
		out = append(out, in)
	}
	return out
}

func (s *Server) workspaceByIDLocked(id string) *workspace {
	for _, w := range s.workspaces {
		if w.id == id {
			return w
		}
	}
	return nil
}

// deviceJSON renders a device with the devices API's fields.
func (s *Server) deviceJSON(d *device) map[string]any {
	seen := d.created.Format(time.RFC3339Nano)
	caps := []string{"xapi"}
	if len(d.permissions) == 0 {
		caps = []string{}
	}
	return map[string]any{
		"id": d.id, "displayName": d.displayName, "placeId": d.workspaceID, "workspaceId": d.workspaceID,
		"orgId": s.opts.OrgID, "capabilities": caps, "permissions": append([]string{}, d.permissions...),
		"connectionStatus": d.connectionStatus, "product": d.product, "type": d.typ, "tags": append([]string{}, d.tags...),
		"ip": d.ip, "activeInterface": "wired", "mac": d.mac,
		"primarySipUrl": strings.ToLower(strings.ReplaceAll(d.displayName, " ", "-")) + "@sim.webex.com",
		"sipUrls":       []string{}, "serial": d.serial, "software": d.profile.DisplayName, "upgradeChannel": "Stable",
		"created": seen, "firstSeen": seen, "lastSeen": s.now().UTC().Format(time.RFC3339Nano),
		"errorCodes": []string{}, "managedBy": "CISCO", "devicePlatform": "cisco",
		"plannedMaintenance": map[string]any{"mode": "off"},
	}
}

func (s *Server) workspaceJSON(w *workspace) map[string]any {
	cal := map[string]any{"type": "none"}
	if w.email != "" {
		cal = map[string]any{"type": "microsoft", "emailAddress": w.email}
	}
	return map[string]any{
		"id": w.id, "orgId": s.opts.OrgID, "displayName": w.displayName, "capacity": 8, "type": "meetingRoom",
		"sipAddress": strings.ToLower(strings.ReplaceAll(w.displayName, " ", "-")) + "@sim.webex.com",
		"created":    w.created.Format(time.RFC3339Nano), "calendar": cal, "hotdeskingStatus": "off",
		"supportedDevices": "collaborationDevices", "devicePlatform": "cisco",
	}
}

// handleDevices is GET /v1/devices: filters, then max/start paging with a Link rel="next".
func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	q := r.URL.Query()
	if v := q.Get("connectionStatus"); v != "" && !slices.Contains(connectionStatuses, strings.ToLower(v)) {
		s.writeErr(w, http.StatusBadRequest, "Invalid connectionStatus "+v+".")
		return
	}
	if v := q.Get("capability"); v != "" && v != "xapi" {
		s.writeErr(w, http.StatusBadRequest, "Invalid capability "+v+" (supported: xapi).")
		return
	}
	if v := q.Get("permission"); v != "" && v != PermXAPIAll && v != PermXAPIReadonly {
		s.writeErr(w, http.StatusBadRequest, "Invalid permission "+v+".")
		return
	}
	s.mu.Lock()
	var items []any
	for _, d := range s.devices {
		if deviceMatches(d, q) {
			items = append(items, s.deviceJSON(d))
		}
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func deviceMatches(d *device, q url.Values) bool {
	eq := func(key, v string) bool { f := q.Get(key); return f == "" || strings.EqualFold(f, v) }
	if !eq("displayName", d.displayName) || !eq("workspaceId", d.workspaceID) || !eq("placeId", d.workspaceID) ||
		!eq("connectionStatus", d.connectionStatus) || !eq("product", d.product) || !eq("type", d.typ) ||
		!eq("serial", d.serial) || !eq("mac", d.mac) {
		return false
	}
	if v := q.Get("software"); v != "" && !strings.Contains(strings.ToLower(d.profile.DisplayName), strings.ToLower(v)) {
		return false
	}
	if v := q.Get("capability"); v != "" && len(d.permissions) == 0 {
		return false
	}
	if v := q.Get("permission"); v != "" && !slices.Contains(d.permissions, v) {
		return false
	}
	if v := q.Get("tag"); v != "" { // comma-separated tags: logical AND
		for _, t := range strings.Split(v, ",") {
			if !slices.Contains(d.tags, strings.TrimSpace(t)) {
				return false
			}
		}
	}
	return true
}

func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	s.mu.Lock()
	var out map[string]any
	for _, d := range s.devices {
		if d.id == r.PathValue("id") {
			out = s.deviceJSON(d)
			s.countDeviceLocked(d.id, "GET /v1/devices/{id}", "")
		}
	}
	s.mu.Unlock()
	if out == nil {
		s.writeErr(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleWorkspaces(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	name := r.URL.Query().Get("displayName")
	s.mu.Lock()
	var items []any
	for _, ws := range s.workspaces {
		if name == "" || strings.EqualFold(name, ws.displayName) {
			items = append(items, s.workspaceJSON(ws))
		}
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func (s *Server) handleWorkspace(w http.ResponseWriter, r *http.Request, _ *accessToken) {
	s.mu.Lock()
	ws := s.workspaceByIDLocked(r.PathValue("id"))
	var out map[string]any
	if ws != nil {
		out = s.workspaceJSON(ws)
	}
	s.mu.Unlock()
	if out == nil {
		s.writeErr(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// page answers {"items": […]} for max/start, with a Link header naming the next page (the same
// query, start moved on) when there is one, as Webex's list APIs do.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []any) {
	q := r.URL.Query()
	size, start := DefaultPageSize, 0
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			s.writeErr(w, http.StatusBadRequest, fmt.Sprintf("Invalid max %q: must be 1–%d.", v, MaxPageSize))
			return
		}
		size = n
	}
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeErr(w, http.StatusBadRequest, fmt.Sprintf("Invalid start %q.", v))
			return
		}
		start = n
	}
	end := min(len(items), start+size)
	sel := []any{}
	if start < len(items) {
		sel = items[start:end]
	}
	if end < len(items) {
		q.Set("start", strconv.Itoa(end))
		q.Set("max", strconv.Itoa(size))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.apiBase, r.URL.Path, q.Encode()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": sel})
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func itoa(n int) string { return strconv.Itoa(n) }
