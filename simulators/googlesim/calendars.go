package googlesim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
)

// Rooms as Google Workspace resource calendars: ids, ACLs, and the Admin SDK Directory's
// resources.calendars.list.

// ResourceEmail is the resource calendar id Google generates for a room
// (c_<hex>@resource.calendar.google.com), derived from the graphsim mailbox.
func ResourceEmail(mailbox string) string {
	h := sha256.Sum256([]byte(normalize(mailbox)))
	return "c_" + hex.EncodeToString(h[:12]) + "@" + resourceDomain
}

// Calendar ACL roles.
const (
	RoleOwner          = "owner"
	RoleWriter         = "writer"
	RoleReader         = "reader"
	RoleFreeBusyReader = "freeBusyReader"
	RoleNone           = "none"
)

// resolve maps a calendarId (resource email or the room's email alias) to its mailbox.
func (s *Server) resolve(calendarID string) (string, bool) {
	id := normalize(calendarID)
	if strings.HasSuffix(id, "@"+resourceDomain) {
		s.mu.Lock()
		mb, ok := s.resources[id]
		s.mu.Unlock()
		if ok {
			if _, still := s.gs.MailboxName(mb); still {
				return mb, true
			}
		}
		// A room added since: rebuild the map (rooms are few and change rarely).
		m := map[string]string{}
		for _, r := range s.gs.Rooms() {
			m[ResourceEmail(r.Mailbox)] = r.Mailbox
		}
		s.mu.Lock()
		s.resources = m
		s.mu.Unlock()
		mb, ok = m[id]
		return mb, ok
	}
	if _, ok := s.gs.MailboxName(id); ok {
		return id, true
	}
	return "", false
}

// SetACL gives principal (a user or service account address, or "default" for the domain) a
// role on a room's calendar; "" removes the entry. calendar is the mailbox or resource email.
func (s *Server) SetACL(calendar, principal, role string) error {
	mb, ok := s.resolve(calendar)
	if !ok {
		return fmt.Errorf("calendar %s: not found", calendar)
	}
	switch role {
	case "", RoleOwner, RoleWriter, RoleReader, RoleFreeBusyReader, RoleNone:
	default:
		return fmt.Errorf("role %q: want owner, writer, reader, freeBusyReader or none", role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acl[mb] == nil {
		s.acl[mb] = map[string]string{}
	}
	if role == "" {
		delete(s.acl[mb], normalize(principal))
	} else {
		s.acl[mb][normalize(principal)] = role
	}
	return nil
}

// ACL returns a room calendar's explicit entries.
func (s *Server) ACL(calendar string) (map[string]string, error) {
	mb, ok := s.resolve(calendar)
	if !ok {
		return nil, fmt.Errorf("calendar %s: not found", calendar)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.acl[mb] {
		out[k] = v
	}
	return out, nil
}

// canRead decides whether principal may list a room's events. An explicit ACL entry wins;
// otherwise the room is shared with the domain's users (Workspace's default for resources)
// unless it is outside graphsim's access policy (the scenario's problem room), and service
// accounts acting as themselves see nothing they are not on the ACL of.
func (s *Server) canRead(principal, mailbox string) bool {
	s.mu.Lock()
	entries := s.acl[mailbox]
	role, explicit := entries[principal]
	if !explicit {
		role, explicit = entries["default"]
	}
	_, isUser := s.users[principal]
	s.mu.Unlock()
	if explicit {
		return role == RoleReader || role == RoleWriter || role == RoleOwner
	}
	if !isUser {
		return false
	}
	info, err := s.gs.RoomInfo(mailbox)
	return err == nil && info.InPolicy
}

// CalendarResource is a Directory API resource as Google returns it.
type CalendarResource struct {
	Kind                   string `json:"kind"`
	Etags                  string `json:"etags"`
	ResourceID             string `json:"resourceId"`
	ResourceName           string `json:"resourceName"`
	ResourceType           string `json:"resourceType"`
	ResourceEmail          string `json:"resourceEmail"`
	GeneratedResourceName  string `json:"generatedResourceName"`
	ResourceCategory       string `json:"resourceCategory"`
	Capacity               int    `json:"capacity"`
	BuildingID             string `json:"buildingId"`
	FloorName              string `json:"floorName"`
	UserVisibleDescription string `json:"userVisibleDescription,omitempty"`
}

// Resources lists the rooms as Directory resources, by email alias order.
func (s *Server) Resources() []CalendarResource {
	rooms := s.gs.Rooms()
	out := make([]CalendarResource, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, resourceOf(r.Mailbox, r.DisplayName))
	}
	return out
}

// resourceOf is the Directory resource of a room (capacity and floor derived from its address).
func resourceOf(mailbox, name string) CalendarResource {
	h := sha256.Sum256([]byte("resource/" + mailbox))
	id := new(big.Int).SetBytes(h[:5]).String()
	capacity := 4 + int(h[6]%12)
	floor := strconv.Itoa(1 + int(h[7]%5))
	return CalendarResource{Kind: "admin#directory#resources#calendars#CalendarResource",
		Etags: `"` + base64.RawURLEncoding.EncodeToString(h[8:20]) + `"`, ResourceID: id, ResourceName: name,
		ResourceType: "Conference room", ResourceEmail: ResourceEmail(mailbox),
		GeneratedResourceName: fmt.Sprintf("HQ-%s-%s (%d)", floor, name, capacity),
		ResourceCategory:      "CONFERENCE_ROOM", Capacity: capacity, BuildingID: "HQ", FloorName: floor,
		UserVisibleDescription: "Email alias " + mailbox}
}

// resourcesList is GET admin/directory/v1/customer/{customer}/resources/calendars.
func (s *Server) resourcesList(w http.ResponseWriter, r *http.Request, at *accessToken) {
	cust := r.PathValue("customer")
	if cust != "my_customer" && cust != s.opts.Customer {
		writeError(w, http.StatusBadRequest, "badRequest", "global", "Bad Request")
		return
	}
	s.mu.Lock()
	u := s.users[at.principal]
	s.mu.Unlock()
	if u == nil || !u.Admin {
		writeError(w, http.StatusForbidden, "forbidden", "global", "Not Authorized to access this resource/api")
		return
	}
	q := r.URL.Query()
	size := 100
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "invalid", "global", "Invalid value for: maxResults")
			return
		}
		size = n
	}
	all := s.Resources()
	off := 0
	if tok := q.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "res:"))
		if err != nil || err2 != nil || n < 0 || n > len(all) {
			writeError(w, http.StatusBadRequest, "invalid", "global", "Invalid Input: pageToken")
			return
		}
		off = n
	}
	end := min(off+size, len(all))
	body := map[string]any{"kind": "admin#directory#resources#calendars#calendarResourcesList",
		"etag": `"` + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(len(all)))) + `"`, "items": all[off:end]}
	if end < len(all) {
		body["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("res:" + strconv.Itoa(end)))
	}
	writeJSON(w, http.StatusOK, body)
}
