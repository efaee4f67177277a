package ciscosim

import (
	"strings"
	"time"
)

// command runs xCommand/<path>. Role rules follow the schema: Bookings Put and user management
// need Admin; the other Bookings commands Admin or User.
func (c *Codec) command(cn *conn, path string, p map[string]any) (any, *rpcError) {
	u := cn.user
	adminOrUser := u.has(RoleAdmin, RoleUser)
	switch strings.ToLower(path) {
	case "bookings/put":
		body, ok := bodyParam(p)
		if !ok {
			if !u.has(RoleAdmin) {
				return nil, errPermission
			}
			return nil, errf(codeInvalidParams, "Invalid params: body (the Bookings JSON document, as a string) is required")
		}
		return c.put(u, body, "xapi")
	case "bookings/list":
		if !adminOrUser {
			return nil, errPermission
		}
		return c.list(p)
	case "bookings/get":
		if !adminOrUser {
			return nil, errPermission
		}
		return c.get(p)
	case "bookings/delete":
		if !adminOrUser {
			return nil, errPermission
		}
		return c.delete(p)
	case "bookings/clear":
		if !adminOrUser {
			return nil, errPermission
		}
		return c.clear()
	case "dial":
		if !u.has(RoleAdmin, RoleUser, RoleIntegrator, RoleRoomControl) {
			return nil, errPermission
		}
		number, _ := p["Number"].(string)
		if number == "" {
			return nil, errf(codeInvalidParams, "Invalid params: Number is required")
		}
		protocol, _ := p["Protocol"].(string)
		bookingID, _ := p["BookingId"].(string)
		id := c.Dial(number, protocol, bookingID)
		return map[string]any{"status": "OK", "CallId": id, "ConferenceId": id}, nil
	case "call/disconnect":
		if !u.has(RoleAdmin, RoleUser, RoleIntegrator, RoleRoomControl) {
			return nil, errPermission
		}
		id, _ := intParam(p["CallId"])
		if !c.Hangup(id) {
			return nil, commandError(3, "No active call")
		}
		return map[string]any{"status": "OK"}, nil
	case "usermanagement/user/get":
		if !u.has(RoleAdmin) {
			return nil, errPermission
		}
		name, _ := p["Username"].(string)
		c.mu.Lock()
		target, ok := c.users[name]
		c.mu.Unlock()
		if !ok {
			return nil, commandError(4, "User not found")
		}
		roles := make([]any, len(target.Roles))
		for i, r := range target.Roles {
			roles[i] = map[string]any{"id": i + 1, "Role": r}
		}
		return map[string]any{"status": "OK", "Username": target.Username, "Active": "True", "Roles": roles}, nil
	case "systemunit/boot":
		if !u.has(RoleAdmin) {
			return nil, errPermission
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			c.Reboot(RebootOptions{})
		}()
		return map[string]any{"status": "OK"}, nil
	}
	return nil, errf(codeNoMethod, "Method not found: xCommand/"+path)
}

// bodyParam reads the multiline payload of a command (params.body, a string).
func bodyParam(p map[string]any) (string, bool) {
	for k, v := range p {
		if strings.EqualFold(k, "body") {
			s, ok := v.(string)
			return s, ok
		}
	}
	return "", false
}

// call is an active call.
type call struct {
	id        int
	number    string
	protocol  string
	bookingID string
	started   time.Time
}

func (cl *call) status() map[string]any {
	return map[string]any{
		"id":             cl.id,
		"Status":         "Connected",
		"Direction":      "Outgoing",
		"RemoteNumber":   cl.number,
		"CallbackNumber": cl.number,
		"Protocol":       cl.protocol,
		"CallType":       "Video",
	}
}

// Dial places a call as someone pressing Join would: Status Call appears and Event
// CallSuccessful fires. It returns the call id.
func (c *Codec) Dial(number, protocol, bookingID string) int {
	if protocol == "" {
		protocol = "Sip"
		if strings.HasPrefix(number, "https://") {
			protocol = "WebRTC"
		}
	}
	c.mu.Lock()
	c.callSeq++
	cl := &call{id: c.callSeq, number: number, protocol: protocol, bookingID: bookingID, started: c.now()}
	c.calls = append(c.calls, cl)
	c.mu.Unlock()
	c.notifyChange([]string{"Status", "Call"})
	ev := map[string]any{"CallId": cl.id, "RemoteURI": number, "Protocol": protocol, "Direction": "outgoing", "EncryptionIn": "On", "EncryptionOut": "On"}
	if bookingID != "" {
		ev["BookingId"] = bookingID
	}
	c.emitEvent([]string{"CallSuccessful"}, ev)
	return cl.id
}

// Hangup ends a call (id 0: every call); Event CallDisconnect fires and the call's status entry
// becomes a ghost. It reports whether a call ended.
func (c *Codec) Hangup(id int) bool {
	c.mu.Lock()
	var ended []*call
	kept := c.calls[:0]
	for _, cl := range c.calls {
		if id == 0 || cl.id == id {
			ended = append(ended, cl)
		} else {
			kept = append(kept, cl)
		}
	}
	c.calls = kept
	now := c.now()
	c.mu.Unlock()
	for _, cl := range ended {
		c.feedback([]string{"Status", "Call"}, map[string]any{"Status": map[string]any{"Call": []any{map[string]any{"id": cl.id, "ghost": "True"}}}})
		c.emitEvent([]string{"CallDisconnect"}, map[string]any{
			"CallId": cl.id, "RemoteURI": cl.number, "CauseType": "LocalDisconnect", "CauseValue": 1,
			"Duration": int(now.Sub(cl.started) / time.Second), "Protocol": cl.protocol,
		})
	}
	return len(ended) > 0
}
