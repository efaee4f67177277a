package webex

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Finding each endpoint's device: the connection lists its devices (GET /devices, paged by
// the Link header) once per status round, which also refreshes every device's connection
// status, software and permissions in one request per thousand devices instead of one per
// device. An endpoint names its device by id, by workspace (id or display name) or by display
// name; none or several matches is an error naming the candidates.

// Device is what the devices API says of one device (the fields the driver uses).
type Device struct {
	ID               string   `json:"id"`
	DisplayName      string   `json:"displayName"`
	WorkspaceID      string   `json:"workspaceId"`
	Capabilities     []string `json:"capabilities"`
	Permissions      []string `json:"permissions"`
	ConnectionStatus string   `json:"connectionStatus"`
	Product          string   `json:"product"`
	Software         string   `json:"software"`
	Serial           string   `json:"serial"`
}

// Online: the cloud can reach the device now.
func (d Device) Online() bool {
	return d.ConnectionStatus == "connected" || d.ConnectionStatus == "connected_with_issues"
}

// CanPut: the integration may run xAPI commands on the device (xapi:readonly is not enough).
func (d Device) CanPut() bool {
	for _, p := range d.Permissions {
		if p == "xapi:all" {
			return true
		}
	}
	return len(d.Permissions) == 0 && hasXAPI(d) // a listing without permissions: let Webex decide
}

func hasXAPI(d Device) bool {
	for _, c := range d.Capabilities {
		if c == "xapi" {
			return true
		}
	}
	return false
}

// Workspace is a Webex workspace (room).
type Workspace struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// listDevices reads every device the token can see.
func (c *conn) listDevices(ctx context.Context) ([]Device, error) {
	var all []Device
	q := url.Values{"max": {"1000"}}
	path := "/devices"
	for page := 0; page < 100; page++ {
		var out struct {
			Items []Device `json:"items"`
		}
		next, err := c.callPaged(ctx, "list the Webex devices", path, q, &out)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Items...)
		if next == "" {
			return all, nil
		}
		u, err := url.Parse(next)
		if err != nil || !strings.HasPrefix(next, c.cfg.APIURL) {
			return nil, fmt.Errorf("list the Webex devices: the next page %q is not under api_url %s", next, c.cfg.APIURL)
		}
		path, q = strings.TrimPrefix(u.Path, mustPath(c.cfg.APIURL)), u.Query()
	}
	return all, nil
}

func mustPath(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Path
}

// callPaged is a GET that also returns the Link rel="next" URL ("" on the last page).
func (c *conn) callPaged(ctx context.Context, op, path string, q url.Values, out any) (string, error) {
	h, err := c.do(ctx, prioRead, op, http.MethodGet, path, q, nil, out)
	if err != nil {
		return "", err
	}
	for _, l := range h.Values("Link") {
		if m := linkNext.FindStringSubmatch(l); m != nil {
			return m[1], nil
		}
	}
	return "", nil
}

// resolve finds ep's device among devs (and the connection's workspaces when needed).
func (c *conn) resolve(ctx context.Context, ep Endpoint, devs []Device) (Device, error) {
	switch {
	case ep.DeviceID != "":
		for _, d := range devs {
			if d.ID == ep.DeviceID {
				return d, nil
			}
		}
		return Device{}, &NotFoundError{What: fmt.Sprintf("device id %s", ep.DeviceID),
			Fix: "the device was removed from Control Hub, moved to another organisation, or the id is wrong; " + candidates(devs)}
	case ep.DeviceName != "":
		var hits []Device
		for _, d := range devs {
			if strings.EqualFold(strings.TrimSpace(d.DisplayName), ep.DeviceName) {
				hits = append(hits, d)
			}
		}
		return pickOne(fmt.Sprintf("device_name %q", ep.DeviceName), hits, devs)
	case ep.Workspace != "":
		ws, err := c.findWorkspace(ctx, ep.Workspace)
		if err != nil {
			return Device{}, err
		}
		var hits []Device
		for _, d := range devs {
			if d.WorkspaceID == ws.ID && hasXAPI(d) {
				hits = append(hits, d)
			}
		}
		return pickOne(fmt.Sprintf("workspace %q", ws.DisplayName), hits, devs)
	}
	return Device{}, fmt.Errorf("endpoint %s names no device", ep.Name)
}

// findWorkspace finds a workspace by id, else by display name.
func (c *conn) findWorkspace(ctx context.Context, ref string) (Workspace, error) {
	var one Workspace
	err := c.call(ctx, prioRead, "read the Webex workspace", http.MethodGet, "/workspaces/"+url.PathEscape(ref), nil, nil, &one)
	if err == nil && one.ID != "" {
		return one, nil
	}
	var out struct {
		Items []Workspace `json:"items"`
	}
	if err := c.call(ctx, prioRead, "find the Webex workspace", http.MethodGet, "/workspaces", url.Values{"displayName": {ref}, "max": {"100"}}, nil, &out); err != nil {
		return Workspace{}, err
	}
	var hits []Workspace
	for _, w := range out.Items {
		if strings.EqualFold(strings.TrimSpace(w.DisplayName), ref) {
			hits = append(hits, w)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		var names []string
		for _, w := range out.Items {
			names = append(names, fmt.Sprintf("%q", w.DisplayName))
		}
		fix := "check the workspace's name in Control Hub (Workspaces), or give its id"
		if len(names) > 0 {
			fix += "; similar: " + strings.Join(names, ", ")
		}
		return Workspace{}, &NotFoundError{What: fmt.Sprintf("workspace %q", ref), Fix: fix}
	}
	var ids []string
	for _, w := range hits {
		ids = append(ids, w.ID)
	}
	return Workspace{}, &AmbiguousError{What: fmt.Sprintf("workspace %q", ref), Candidates: ids, Fix: "give the workspace's id (workspace: <id>) or the device's id (device_id)"}
}

func pickOne(what string, hits, all []Device) (Device, error) {
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return Device{}, &NotFoundError{What: what, Fix: "no xAPI device matches; " + candidates(all)}
	}
	var c []string
	for _, d := range hits {
		c = append(c, fmt.Sprintf("%s (%s, %s)", d.ID, d.DisplayName, d.Product))
	}
	return Device{}, &AmbiguousError{What: what, Candidates: c, Fix: "give the device's id instead (device_id: <one of them>)"}
}

// candidates names a few devices with xAPI the token can see.
func candidates(devs []Device) string {
	var names []string
	for _, d := range devs {
		if hasXAPI(d) {
			names = append(names, fmt.Sprintf("%q (%s)", d.DisplayName, d.ID))
		}
	}
	sort.Strings(names)
	switch {
	case len(names) == 0:
		return "the token sees no device with xAPI (the integration needs spark-admin:devices_read and the devices must be in its organisation)"
	case len(names) > 8:
		return fmt.Sprintf("devices this token sees include %s and %d more", strings.Join(names[:8], ", "), len(names)-8)
	}
	return "devices this token sees: " + strings.Join(names, ", ")
}

// NotFoundError: the endpoint's device (or workspace) is not in Webex.
type NotFoundError struct{ What, Fix string }

func (e *NotFoundError) Error() string { return e.What + " is not found in Webex: " + e.Fix }

// AmbiguousError: several devices (or workspaces) match the endpoint's name.
type AmbiguousError struct {
	What       string
	Candidates []string
	Fix        string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%s matches %d in Webex (%s): %s", e.What, len(e.Candidates), strings.Join(e.Candidates, "; "), e.Fix)
}
