package ciscosim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// treeLocked builds the codec's Status and Configuration tree as xGet/xQuery see it: nested
// objects, lists as arrays of objects carrying a lower-case "id". It is small, so it is built
// fresh for every read.
func (c *Codec) treeLocked() map[string]any {
	p := c.profile
	calls := []any{}
	for _, cl := range c.calls {
		calls = append(calls, cl.status())
	}
	webex := "Registered"
	if c.cfg.NotCloudRegistered {
		webex = "Disabled"
	}
	status := map[string]any{
		"SystemUnit": map[string]any{
			"ProductId":       c.cfg.ProductID,
			"ProductPlatform": strings.TrimPrefix(strings.TrimPrefix(c.cfg.ProductID, "Cisco Webex "), "Cisco "),
			"ProductType":     "Cisco Codec",
			"Software": map[string]any{
				"Version":     p.Version,
				"DisplayName": p.DisplayName,
			},
			"State":  map[string]any{"NumberOfActiveCalls": len(c.calls)},
			"Uptime": int64(max(c.now().Sub(c.bootedAt), 0) / time.Second),
		},
		"Bookings": map[string]any{
			"Current":      map[string]any{"Id": c.current},
			"Availability": map[string]any{"Status": c.availabilityLocked(), "TimeStamp": c.availabilityStampLocked()},
		},
		"Webex": map[string]any{"Status": webex},
		"Call":  calls,
	}
	config := map[string]any{
		"SystemUnit": map[string]any{"Name": c.cfg.SystemName},
		"NetworkServices": map[string]any{
			"Websocket": "FollowHTTPService",
			"HTTP":      map[string]any{"Mode": "HTTPS"},
		},
		"Bookings": map[string]any{"ProtocolPriority": "Auto"},
		"UserInterface": map[string]any{
			"Bookings": map[string]any{"Visibility": map[string]any{"Title": "Auto"}},
		},
	}
	tree := map[string]any{"Status": status, "Configuration": config}
	for k, v := range c.config {
		setExisting(tree, strings.Split(k, "\x00"), v)
	}
	return tree
}

// pathParam reads a path array parameter (strings and list indexes).
func pathParam(p map[string]any, key string) ([]any, *rpcError) {
	raw, ok := p[key]
	if !ok {
		return nil, errf(codeInvalidParams, fmt.Sprintf("Invalid params: %s is required", key))
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, errf(codeInvalidParams, fmt.Sprintf("Invalid params: %s must be a non-empty array", key))
	}
	for _, e := range list {
		switch e.(type) {
		case string, json.Number:
		default:
			return nil, errf(codeInvalidParams, fmt.Sprintf("Invalid params: %s elements must be strings or numbers", key))
		}
	}
	return list, nil
}

func pathString(e any) string {
	switch v := e.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(e)
}

func intParam(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(n.String())
		return i, err == nil
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	case float64:
		return int(n), true
	}
	return 0, false
}

// lookup walks path in the tree (keys case-insensitive, numbers select list items by id).
func lookup(node any, path []any) (any, bool) {
	for _, e := range path {
		switch n := node.(type) {
		case map[string]any:
			k, ok := findKey(n, pathString(e))
			if !ok {
				return nil, false
			}
			node = n[k]
		case []any:
			id := pathString(e)
			found := false
			for _, item := range n {
				if m, ok := item.(map[string]any); ok && fmt.Sprint(m["id"]) == id {
					node, found = m, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return node, true
}

func findKey(m map[string]any, k string) (string, bool) {
	if _, ok := m[k]; ok {
		return k, true
	}
	for key := range m {
		if strings.EqualFold(key, k) {
			return key, true
		}
	}
	return "", false
}

// setExisting sets a leaf that already exists; it reports whether it did.
func setExisting(tree map[string]any, path []string, v any) bool {
	node := tree
	for i, e := range path {
		k, ok := findKey(node, e)
		if !ok {
			return false
		}
		if i == len(path)-1 {
			if _, isMap := node[k].(map[string]any); isMap {
				return false
			}
			node[k] = v
			return true
		}
		next, ok := node[k].(map[string]any)
		if !ok {
			return false
		}
		node = next
	}
	return false
}

// query returns the parts of node matching pattern ("*" one level, "**" any number), keeping
// the structure from node down.
func query(node any, pat []string) (any, bool) {
	if len(pat) == 0 {
		return node, true
	}
	p := pat[0]
	switch n := node.(type) {
	case map[string]any:
		out := map[string]any{}
		if p == "**" {
			if r, ok := query(n, pat[1:]); ok {
				if rm, isMap := r.(map[string]any); isMap {
					merge(out, rm)
				} else {
					return r, true
				}
			}
			for k, v := range n {
				if r, ok := query(v, pat); ok {
					out[k] = mergeValue(out[k], r)
				}
			}
		} else {
			for k, v := range n {
				if p == "*" || strings.EqualFold(p, k) {
					if r, ok := query(v, pat[1:]); ok {
						out[k] = r
					}
				}
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, item := range n {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			rest := pat[1:]
			switch {
			case p == "**":
				rest = pat
			case p == "*":
			case fmt.Sprint(m["id"]) == p:
			default:
				continue
			}
			if r, ok := query(m, rest); ok {
				if rm, isMap := r.(map[string]any); isMap {
					rm["id"] = m["id"]
				}
				out = append(out, r)
			}
		}
		return out, len(out) > 0
	default:
		if p == "**" && len(pat) == 1 {
			return node, true
		}
		return nil, false
	}
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = mergeValue(dst[k], v)
	}
}

func mergeValue(a, b any) any {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		merge(am, bm)
		return am
	}
	return b
}

func (c *Codec) canRead(u User, path []any) bool {
	if len(path) >= 2 && strings.EqualFold(pathString(path[1]), "Bookings") {
		return u.has(RoleAdmin, RoleUser)
	}
	return true
}

// xGet returns the value at Path, relative to the path.
func (c *Codec) xGet(u User, p map[string]any) (any, *rpcError) {
	path, rerr := pathParam(p, "Path")
	if rerr != nil {
		return nil, rerr
	}
	if !c.canRead(u, path) {
		return nil, errPermission
	}
	c.mu.Lock()
	tree := c.treeLocked()
	c.mu.Unlock()
	v, ok := lookup(tree, path)
	if !ok {
		return nil, errf(codeNoMethod, "No match on Path argument")
	}
	return v, nil
}

// xQuery returns the matching parts of the tree, from the root.
func (c *Codec) xQuery(u User, p map[string]any) (any, *rpcError) {
	path, rerr := pathParam(p, "Query")
	if rerr != nil {
		return nil, rerr
	}
	if !c.canRead(u, path) {
		return nil, errPermission
	}
	pat := make([]string, len(path))
	for i, e := range path {
		pat[i] = pathString(e)
	}
	c.mu.Lock()
	tree := c.treeLocked()
	c.mu.Unlock()
	v, ok := query(tree, pat)
	if !ok {
		return nil, errf(codeNoMethod, "No match on Query argument")
	}
	return v, nil
}

// xSet changes a configuration leaf; Admin and Integrator may.
func (c *Codec) xSet(u User, p map[string]any) (any, *rpcError) {
	path, rerr := pathParam(p, "Path")
	if rerr != nil {
		return nil, rerr
	}
	if !strings.EqualFold(pathString(path[0]), "Configuration") {
		return nil, errf(codeInvalidParams, "Invalid params: only Configuration can be set")
	}
	if !u.has(RoleAdmin, RoleIntegrator) {
		return nil, errPermission
	}
	val, ok := p["Value"]
	if !ok {
		return nil, errf(codeInvalidParams, "Invalid params: Value is required")
	}
	if n, isNum := val.(json.Number); isNum {
		if i, err := n.Int64(); err == nil {
			val = i
		}
	}
	strs := make([]string, len(path))
	for i, e := range path {
		strs[i] = pathString(e)
	}
	c.mu.Lock()
	tree := c.treeLocked()
	if !setExisting(tree, strs, val) {
		c.mu.Unlock()
		return nil, errf(codeNoMethod, "No match on Path argument")
	}
	c.config[strings.Join(strs, "\x00")] = val
	c.mu.Unlock()
	c.notifyChange(strs)
	return true, nil
}

// notifyChange sends the new value at path to the subscriptions covering it.
func (c *Codec) notifyChange(path []string) {
	body, ok := c.subtreeForNotify(path)
	if ok {
		c.feedback(path, body)
	}
}

// subtreeForNotify is the part of the tree at query, nested from the root.
func (c *Codec) subtreeForNotify(q []string) (map[string]any, bool) {
	c.mu.Lock()
	tree := c.treeLocked()
	c.mu.Unlock()
	v, ok := query(tree, q)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

func (c *Codec) availabilityLocked() string {
	if c.availability == "" {
		return "Free"
	}
	return c.availability
}

func (c *Codec) availabilityStampLocked() string {
	now := c.now()
	for _, b := range c.bookings {
		start, err := time.Parse(time.RFC3339, b.Time.StartTime)
		if err != nil {
			continue
		}
		end := start.Add(time.Duration(b.Time.Duration) * time.Minute)
		if !now.Before(start) && now.Before(end) {
			return end.UTC().Format(time.RFC3339)
		}
	}
	return ""
}
