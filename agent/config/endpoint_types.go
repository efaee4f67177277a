package config

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Endpoint types are a registry: each type's file (endpoint_cisco.go, endpoint_poly.go)
// registers the keys its endpoints take besides the common ones (name, type, room, profile,
// ca_file, fingerprint) and how to check them. The loader checks the common keys, rejects a
// key that belongs to other types only, and hands the rest to the type. The agent's
// endpoint-type table (agent/endpoints.go) holds the matching drivers.

// EndpointType is what the loader knows of one endpoint type.
type EndpointType struct {
	// Label names the type in messages ("Cisco", "Poly").
	Label string
	// Keys are the YAML keys this type takes besides the common ones.
	Keys []string
	// Check validates one endpoint of this type: required keys, addresses, secrets. It
	// reports problems through c; it may fill derived fields of e.
	Check func(c *EndpointCheck, e *Endpoint)
}

var endpointTypes = struct {
	sync.RWMutex
	m map[string]EndpointType
}{m: map[string]EndpointType{}}

// RegisterEndpointType adds an endpoint type (from an init function). A name registered
// twice is a programming error.
func RegisterEndpointType(name string, t EndpointType) {
	endpointTypes.Lock()
	defer endpointTypes.Unlock()
	if _, dup := endpointTypes.m[name]; dup {
		panic("config: endpoint type " + name + " registered twice")
	}
	if t.Label == "" {
		t.Label = name
	}
	endpointTypes.m[name] = t
}

// EndpointTypeOf returns the registered endpoint type called name.
func EndpointTypeOf(name string) (EndpointType, bool) {
	endpointTypes.RLock()
	defer endpointTypes.RUnlock()
	t, ok := endpointTypes.m[name]
	return t, ok
}

// EndpointTypeNames lists the registered endpoint types, sorted.
func EndpointTypeNames() []string {
	endpointTypes.RLock()
	defer endpointTypes.RUnlock()
	names := make([]string, 0, len(endpointTypes.m))
	for n := range endpointTypes.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EndpointCheck is what an endpoint type's Check reports through: problems at the endpoint's
// keys' lines, its secrets, and names that must be unique across the config's endpoints.
type EndpointCheck struct {
	l      *loader
	e      *Endpoint
	unique map[string]map[string]string // key → value → endpoint, across the config
}

// Errorf reports a problem at key's line (the endpoint's line when key is "" or absent); the
// message is prefixed with the endpoint's name.
func (c *EndpointCheck) Errorf(key, format string, args ...any) {
	c.l.errorf(c.e.Pos.Line(key), "endpoint %q: %s", c.e.Name, fmt.Sprintf(format, args...))
}

// Secret resolves the secret at key (inline, ${ENV} or the key_file sibling, file); required
// says a value must come from somewhere.
func (c *EndpointCheck) Secret(s *Secret, file, key string, required bool) {
	c.l.resolveSecret(fmt.Sprintf("endpoint %q: ", c.e.Name), s, file, c.e.Pos, key, required)
}

// Address checks the endpoint's address: host, host:port, [v6]:port or a URL with one of
// schemes. Empty is not checked.
func (c *EndpointCheck) Address(schemes ...string) {
	if c.e.Address == "" {
		return
	}
	if err := checkAddress(c.e.Address, schemes...); err != nil {
		c.Errorf("address", "address %s", err)
	}
}

// Unique claims value (compared case-insensitively) for this endpoint under key; when another
// endpoint claimed it first, it returns that endpoint's name.
func (c *EndpointCheck) Unique(key, value string) (other string, dup bool) {
	seen := c.unique[key]
	if seen == nil {
		seen = map[string]string{}
		c.unique[key] = seen
	}
	v := strings.ToLower(value)
	if other, dup := seen[v]; dup {
		return other, true
	}
	seen[v] = c.e.Name
	return "", false
}

// Has reports whether key was written for the endpoint.
func (c *EndpointCheck) Has(key string) bool { return c.e.Pos.Has(key) }

// endpointType checks e's type and its type-specific keys (after the common ones).
func (l *loader) endpointType(e *Endpoint, unique map[string]map[string]string) {
	names := EndpointTypeNames()
	if e.Type == "" {
		l.errorf(e.Pos.Line("type"), "endpoint %q: type is required (%s)", e.Name, orList(names))
		return
	}
	t, ok := EndpointTypeOf(e.Type)
	if !ok {
		l.errorf(e.Pos.Line("type"), "endpoint %q: type %q is not one of %s", e.Name, e.Type, strings.Join(names, ", "))
		return
	}
	if t.Check != nil {
		t.Check(&EndpointCheck{l: l, e: e, unique: unique}, e)
	}
	// A key of other types only: say whose it is.
	owners := map[string][]string{}
	for _, n := range names {
		other, _ := EndpointTypeOf(n)
		for _, k := range other.Keys {
			owners[k] = append(owners[k], other.Label)
		}
	}
	keys := make([]string, 0, len(owners))
	for k := range owners {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if e.Pos.Has(k) && !contains(t.Keys, k) {
			l.errorf(e.Pos.Line(k), "endpoint %q: %s only applies to %s endpoints", e.Name, k, strings.Join(owners[k], " and "))
		}
	}
}

// orList is "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
