package cisco

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/otj-edge/otj-edge/device/pin"
)

// ProbeResult is what `otj-edge check` learns about a codec with one connection.
type ProbeResult struct {
	URL         string
	Fingerprint string // presented by the codec
	Pinned      bool   // it matched a pin (configured or stored); false: not pinned yet, or CA-verified
	Firmware    Firmware
	Product     string
	SystemName  string
	WebexStatus string // Status Webex Status, when the codec has it
	// Admin: the user has the Admin role Bookings Put needs. RoleKnown is false when the codec
	// would not say (then Admin is false too).
	Admin     bool
	RoleKnown bool
	Roles     []string
	// PutAvailable and PutNote: whether Bookings Put will work, and the caveat or reason.
	PutAvailable bool
	PutNote      string
	Bookings     int // bookings on the codec now
}

// Probe connects once (one authentication attempt; the subprotocol is tried only when the
// codec saw no credentials), reads firmware, product and name, the user's roles and the
// bookings, and judges whether Bookings Put is available. storedPin is the agent's pin for
// the codec, "" when none: the certificate is then accepted and reported, not pinned.
func Probe(ctx context.Context, ep Endpoint, storedPin string) (ProbeResult, error) {
	res := ProbeResult{}
	u, err := WebSocketURL(ep.Address)
	if err != nil {
		return res, err
	}
	res.URL = u
	var roots *x509.CertPool
	if ep.CAFile != "" {
		if roots, err = pin.LoadRoots(ep.CAFile); err != nil {
			return res, fmt.Errorf("ca_file: %w", err)
		}
	}
	policy := pin.For(roots, ep.Fingerprint, storedPin)
	conn, err := Dial(ctx, DialOptions{URL: u, Username: ep.Username, Password: ep.Password, TLS: policy})
	if err != nil {
		return res, err
	}
	defer conn.Close()
	res.Fingerprint = conn.Fingerprint()
	res.Pinned = policy.Roots == nil && policy.Pin != ""

	var version, display string
	var wg sync.WaitGroup
	get := func(out *string, path ...any) {
		defer wg.Done()
		var v any
		if conn.Get(ctx, &v, path...) == nil {
			*out = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	wg.Add(5)
	go get(&version, "Status", "SystemUnit", "Software", "Version")
	go get(&display, "Status", "SystemUnit", "Software", "DisplayName")
	go get(&res.Product, "Status", "SystemUnit", "ProductId")
	go get(&res.SystemName, "Configuration", "SystemUnit", "Name")
	go get(&res.WebexStatus, "Status", "Webex", "Status")
	wg.Wait()
	res.Firmware = ParseFirmware(version, display)

	// User management needs Admin itself: "permission denied" answers the question too.
	var user map[string]any
	err = conn.Call(ctx, "xCommand/UserManagement/User/Get", map[string]any{"Username": ep.Username}, &user)
	switch {
	case err == nil:
		res.RoleKnown = true
		res.Roles = rolesIn(user["Roles"])
		for _, r := range res.Roles {
			if strings.EqualFold(r, "Admin") {
				res.Admin = true
			}
		}
	case IsRPC(err, CodePermission):
		res.RoleKnown = true
	}
	if ids, err := listIDs(ctx, conn); err == nil {
		res.Bookings = len(ids)
	}
	res.PutAvailable, res.PutNote = putVerdict(res)
	return res, nil
}

// rolesIn finds role names in a UserManagement answer, whatever its nesting.
func rolesIn(v any) []string {
	var out []string
	known := map[string]bool{"admin": true, "user": true, "integrator": true, "roomcontrol": true, "audit": true}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, r := range strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' }) {
				if known[strings.ToLower(r)] {
					out = append(out, r)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case json.Number:
		}
	}
	walk(v)
	return out
}

func putVerdict(r ProbeResult) (bool, string) {
	caps := r.Firmware.Caps()
	switch {
	case !caps.WebSocket:
		return false, r.Firmware.Name() + " has no xAPI over WebSocket (CE 9.7 or later needed)"
	case !r.Admin && r.RoleKnown:
		return false, "the user is not an Admin; Bookings Put needs the Admin role"
	case !r.Admin:
		return false, "the user's roles could not be read; Bookings Put needs the Admin role"
	case caps.CloudOnly && !strings.EqualFold(r.WebexStatus, "Registered"):
		status := r.WebexStatus
		if status == "" {
			status = "unknown"
		}
		return false, fmt.Sprintf("%s takes Bookings Put only when registered to Webex or linked with Webex Edge for Devices (Webex status: %s)", r.Firmware.Name(), status)
	case r.Firmware.Major >= 26:
		return true, "unless the codec runs Microsoft Teams Rooms, which refuses it (the agent reports that on its first push)"
	case r.Firmware.Major <= 9:
		return true, r.Firmware.Limits()
	}
	return true, ""
}
