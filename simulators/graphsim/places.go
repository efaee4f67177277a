package graphsim

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The Places API (GET /places/microsoft.graph.room, /places/microsoft.graph.roomlist and
// /places/{list}/microsoft.graph.roomlist/rooms), as `otj-edge rooms discover` reads it. Every
// room mailbox of the simulator is a room place; SetPlace adds what Exchange's Set-Place
// would (capacity, building, floor, wheelchair access) and SetRoomList makes room lists.
//
// Graph answers these only when the app holds the application permission Place.Read.All
// with admin consent: the simulator keeps the app registration's granted application
// permissions (its "app roles", what the token's roles claim carries) and answers 403
// ErrorAccessDenied without it. Real Graph reads the roles from the token, so a new grant
// needs a new token; the simulator applies a change at once, which tests do not tell apart.

// PlaceReadAll is the application permission the Places API requires.
const PlaceReadAll = "Place.Read.All"

// DefaultAppRoles are the application permissions a new simulator's app holds: Place.Read.All
// (rooms discovery works out of the box). Calendar access is modelled per mailbox instead
// (Room.InPolicy: RBAC for Applications or an access policy), as the README sets it up.
var DefaultAppRoles = []string{PlaceReadAll}

// DefaultPlacesPageSize is the page size of the Places API without $top (Graph's default).
const DefaultPlacesPageSize = 100

// PlaceInfo is what Set-Place sets on a room (zero values: not set).
type PlaceInfo struct {
	Capacity             *int   `json:"capacity,omitempty"`
	Building             string `json:"building,omitempty"`
	FloorNumber          *int   `json:"floor_number,omitempty"`
	FloorLabel           string `json:"floor_label,omitempty"`
	WheelChairAccessible bool   `json:"wheelchair_accessible,omitempty"`
}

// RoomList is a room list (a distribution group of rooms) and its members.
type RoomList struct {
	Mailbox     string   `json:"mailbox"`
	DisplayName string   `json:"display_name"`
	Rooms       []string `json:"rooms"`
}

// PlacesSettings change how the Places API pages.
type PlacesSettings struct {
	PageSize *int `json:"page_size,omitempty"` // without $top; default 100
	// NoNextLink leaves @odata.nextLink out, as Graph long did for places: a client must then
	// page with $skip itself.
	NoNextLink *bool `json:"no_next_link,omitempty"`
}

type placeState struct {
	info       map[string]PlaceInfo // by room address
	lists      map[string]*RoomList // by list address
	roles      map[string]bool      // nil: DefaultAppRoles
	pageSize   int
	noNextLink bool
}

// SetPlace sets a room's place properties; the room must exist.
func (s *Server) SetPlace(room string, p PlaceInfo) error {
	addr := strings.ToLower(room)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boxes[addr] == nil {
		return fmt.Errorf("room %s: %w", room, ErrNotFound)
	}
	if s.places.info == nil {
		s.places.info = map[string]PlaceInfo{}
	}
	s.places.info[addr] = p
	return nil
}

// SetRoomList adds or replaces a room list; its rooms must exist.
func (s *Server) SetRoomList(l RoomList) error {
	addr := strings.ToLower(strings.TrimSpace(l.Mailbox))
	if !strings.Contains(addr, "@") {
		return errBadRequest(fmt.Sprintf("room list %q: want an SMTP address", l.Mailbox))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := &RoomList{Mailbox: addr, DisplayName: l.DisplayName}
	if list.DisplayName == "" {
		list.DisplayName = displayName(addr)
	}
	for _, r := range l.Rooms {
		r = strings.ToLower(r)
		if s.boxes[r] == nil {
			return fmt.Errorf("room list %s: room %s: %w", addr, r, ErrNotFound)
		}
		list.Rooms = append(list.Rooms, r)
	}
	if s.places.lists == nil {
		s.places.lists = map[string]*RoomList{}
	}
	s.places.lists[addr] = list
	return nil
}

// SetAppRoles replaces the application permissions granted (with admin consent) to the app.
func (s *Server) SetAppRoles(roles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.places.roles = map[string]bool{}
	for _, r := range roles {
		s.places.roles[r] = true
	}
}

// AppRoles lists the application permissions the app holds, sorted.
func (s *Server) AppRoles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appRolesLocked()
}

func (s *Server) appRolesLocked() []string {
	if s.places.roles == nil {
		return append([]string(nil), DefaultAppRoles...)
	}
	out := []string{}
	for r := range s.places.roles {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// SetPlaces changes the Places API's paging.
func (s *Server) SetPlaces(p PlacesSettings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.PageSize != nil && *p.PageSize > 0 {
		s.places.pageSize = *p.PageSize
	}
	if p.NoNextLink != nil {
		s.places.noNextLink = *p.NoNextLink
	}
}

// placesAdmin registers the admin routes (simulators/README.md).
func (s *Server) placesAdmin(mux *http.ServeMux) {
	mux.HandleFunc("PUT /places/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		var p PlaceInfo
		if !decode(w, r, &p) {
			return
		}
		if err := s.SetPlace(r.PathValue("room"), p); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /places/roomlists/{list}", func(w http.ResponseWriter, r *http.Request) {
		var l RoomList
		if !decode(w, r, &l) {
			return
		}
		l.Mailbox = r.PathValue("list")
		if err := s.SetRoomList(l); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PATCH /places", func(w http.ResponseWriter, r *http.Request) {
		var p PlacesSettings
		if !decode(w, r, &p) {
			return
		}
		s.SetPlaces(p)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /app/roles", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"roles": s.AppRoles()})
	})
	mux.HandleFunc("PUT /app/roles", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Roles []string `json:"roles"`
		}
		if !decode(w, r, &body) {
			return
		}
		s.SetAppRoles(body.Roles)
		w.WriteHeader(http.StatusNoContent)
	})
}

// isPlacesPath reports whether a Graph path (below /v1.0) is the Places API's.
func isPlacesPath(path string) bool {
	return strings.HasPrefix(strings.ToLower(path), "/places/")
}

// castIs matches an OData type cast segment in either form Graph accepts:
// microsoft.graph.room or graph.room (the SDK's), any case.
func castIs(seg, typ string) bool {
	seg = strings.ToLower(seg)
	return seg == "microsoft.graph."+typ || seg == "graph."+typ
}

// servePlaces answers a Places API request.
func (s *Server) servePlaces(method, path string, q url.Values) gResp {
	if method != http.MethodGet {
		return errResp(http.StatusMethodNotAllowed, "BadRequest", "graphsim serves GET requests on places only.")
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.places.roles != nil && !s.places.roles[PlaceReadAll] {
		return errResp(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	switch {
	case len(parts) == 2 && castIs(parts[1], "room"):
		addrs := make([]string, 0, len(s.boxes))
		for a := range s.boxes {
			addrs = append(addrs, a)
		}
		sort.Strings(addrs)
		return s.placesPage(path, "places/microsoft.graph.room", addrs, s.renderRoom, q)
	case len(parts) == 2 && castIs(parts[1], "roomlist"):
		addrs := make([]string, 0, len(s.places.lists))
		for a := range s.places.lists {
			addrs = append(addrs, a)
		}
		sort.Strings(addrs)
		return s.placesPage(path, "places/microsoft.graph.roomList", addrs, s.renderRoomList, q)
	case len(parts) == 4 && castIs(parts[2], "roomlist") && strings.EqualFold(parts[3], "rooms"):
		list := s.findList(parts[1])
		if list == nil {
			return errResp(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		}
		var addrs []string
		for _, a := range list.Rooms {
			if s.boxes[a] != nil { // a room removed since stays out
				addrs = append(addrs, a)
			}
		}
		return s.placesPage(path, "places('"+list.Mailbox+"')/microsoft.graph.roomList/rooms", addrs, s.renderRoom, q)
	}
	return errResp(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+lastSegment(path)+"'.")
}

// findList finds a room list by address or place id.
func (s *Server) findList(key string) *RoomList {
	key = strings.ToLower(key)
	if l := s.places.lists[key]; l != nil {
		return l
	}
	for addr, l := range s.places.lists {
		if placeID(addr) == key {
			return l
		}
	}
	return nil
}

// placesPage serves one page of a places collection: $top (default the page size, at most
// 1000) and $skip, and an @odata.nextLink while more remain (unless NoNextLink).
func (s *Server) placesPage(path, context string, addrs []string, render func(string) map[string]any, q url.Values) gResp {
	top := s.places.pageSize
	if top <= 0 {
		top = DefaultPlacesPageSize
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return errResp(http.StatusBadRequest, "BadRequest", "Invalid value for $top.")
		}
		top = min(n, 1000)
	}
	skip := 0
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errResp(http.StatusBadRequest, "BadRequest", "Invalid value for $skip.")
		}
		skip = n
	}
	value := []any{}
	for i := skip; i < len(addrs) && i < skip+top; i++ {
		value = append(value, render(addrs[i]))
	}
	body := map[string]any{"@odata.context": s.graphBase + "/v1.0/$metadata#" + context, "value": value}
	if skip+top < len(addrs) && !s.places.noNextLink {
		next := url.Values{}
		next.Set("$top", strconv.Itoa(top))
		next.Set("$skip", strconv.Itoa(skip+top))
		body["@odata.nextLink"] = s.graphBase + "/v1.0" + path + "?" + next.Encode()
	}
	return gResp{status: http.StatusOK, body: body}
}

// placeID is a room's or list's place id: a GUID, stable for its address.
func placeID(addr string) string {
	b := sha256.Sum256([]byte("place:" + addr))
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// renderRoom is a room as Graph's room resource has it.
func (s *Server) renderRoom(addr string) map[string]any {
	name := displayName(addr)
	if mb := s.boxes[addr]; mb != nil {
		name = mb.name
	}
	p := s.places.info[addr]
	var capacity, floor, floorLabel, building any
	if p.Capacity != nil {
		capacity = *p.Capacity
	}
	if p.FloorNumber != nil {
		floor = *p.FloorNumber
	}
	if p.FloorLabel != "" {
		floorLabel = p.FloorLabel
	}
	if p.Building != "" {
		building = p.Building
	}
	return map[string]any{
		"@odata.type": "#microsoft.graph.room", "id": placeID(addr), "emailAddress": addr, "displayName": name,
		"address": nil, "geoCoordinates": nil, "phone": "", "nickname": name, "label": nil,
		"capacity": capacity, "building": building, "floorLabel": floorLabel, "floorNumber": floor,
		"isWheelChairAccessible": p.WheelChairAccessible, "bookingType": "standard", "tags": []string{},
		"audioDeviceName": nil, "videoDeviceName": nil, "displayDeviceName": nil,
	}
}

// renderRoomList is a room list as Graph's roomList resource has it.
func (s *Server) renderRoomList(addr string) map[string]any {
	l := s.places.lists[addr]
	return map[string]any{
		"@odata.type": "#microsoft.graph.roomList", "id": placeID(addr), "emailAddress": addr, "displayName": l.DisplayName,
		"address": nil, "geoCoordinates": nil, "phone": "",
	}
}
