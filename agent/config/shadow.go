package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Shadow marks an integration as reading some rooms in shadow, the check before a phased
// migration moves them (README "Moving rooms between integrations"):
//
//	shadow:
//	  rooms: all                                 # every room another integration reads live
//	  rooms: [a@example.com, b@example.com]      # or these rooms
//
// A shadowed room is read into the integration's own store (<state_dir>/shadow/<name>.db),
// resolved with the room's own profile, and compared with what the room shows; no endpoint
// is ever driven from it. An integration is never the shadow of a room it reads live, so the
// same integration can read moved rooms live and shadow the rest: with rooms: all, moving a
// room is the one line on its endpoints (integration: <name>), and it leaves the shadow then.
type Shadow struct {
	Rooms ShadowRooms `yaml:"rooms"`
	Pos   Pos         `yaml:"-"`
}

// ShadowRooms is shadow.rooms: the word all, or a list of room mailboxes.
type ShadowRooms struct {
	All  bool
	List []string
}

// UnmarshalYAML reads all or a list of mailboxes; anything else is a problem at its line.
func (r *ShadowRooms) UnmarshalYAML(n *yaml.Node) error {
	bad := &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: shadow.rooms must be all, or a list of room mailboxes such as [room-1@example.com]", n.Line)}}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "all" {
			return bad
		}
		r.All = true
		return nil
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return bad
			}
			r.List = append(r.List, strings.ToLower(strings.TrimSpace(item.Value)))
		}
		return nil
	}
	return bad
}

// MarshalJSON keeps part keys and dumps readable.
func (r ShadowRooms) MarshalJSON() ([]byte, error) {
	if r.All {
		return []byte(`"all"`), nil
	}
	return jsonStrings(r.List), nil
}

func jsonStrings(list []string) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// ShadowRooms lists the rooms integration reads in shadow (each with its live integration and
// profile), by mailbox; none when it is not a shadow.
func (c *Config) ShadowRooms(integration string) []Room {
	in := c.Integration(integration)
	if in == nil || in.Shadow == nil {
		return nil
	}
	want := map[string]bool{}
	for _, m := range in.Shadow.Rooms.List {
		want[m] = true
	}
	var out []Room
	for _, r := range c.Rooms() {
		if r.Integration == integration || (!in.Shadow.Rooms.All && !want[r.Mailbox]) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Shadows lists the integrations that shadow at least one room, in config order.
func (c *Config) Shadows() []*Integration {
	var out []*Integration
	for i := range c.Integrations {
		if in := &c.Integrations[i]; len(c.ShadowRooms(in.Name)) > 0 {
			out = append(out, in)
		}
	}
	return out
}

// shadows checks every shadow: its rooms are rooms of the site, none twice, none read live by
// the shadow itself (its results would be compared with themselves).
func (l *loader) shadows(c *Config) {
	rooms := map[string]Room{}
	for _, r := range c.Rooms() {
		rooms[r.Mailbox] = r
	}
	for i := range c.Integrations {
		in := &c.Integrations[i]
		sh := in.Shadow
		if sh == nil {
			continue
		}
		line := sh.Pos.Line("rooms")
		owner := fmt.Sprintf("integration %q: shadow: ", in.Name)
		switch {
		case !sh.Rooms.All && len(sh.Rooms.List) == 0:
			l.errorf(line, "%srooms is required: all, or a list of the room mailboxes to read in shadow", owner)
			continue
		case sh.Rooms.All && len(c.ShadowRooms(in.Name)) == 0:
			l.warnf(line, "%severy room already reads %s live, so nothing is shadowed: the migration is done, remove shadow:", owner, in.Name)
		}
		seen := map[string]bool{}
		for _, m := range sh.Rooms.List {
			r, ok := rooms[m]
			switch {
			case seen[m]:
				l.errorf(line, "%sroom %s is listed twice", owner, m)
			case !ok:
				l.errorf(line, "%sroom %s is not a room of this site (no endpoint names it)%s", owner, m, knownRooms(rooms))
			case r.Integration == in.Name:
				l.errorf(line, "%sroom %s already reads %s live (endpoints %s); a room is never the shadow of its own integration: remove it from shadow.rooms",
					owner, m, in.Name, strings.Join(r.Endpoints, ", "))
			}
			seen[m] = true
		}
	}
}

func knownRooms(rooms map[string]Room) string {
	set := map[string]bool{}
	for m := range rooms {
		set[m] = true
	}
	return known(set)
}

// roomIntegrations checks endpoints' integration: lines: the integration exists, and every
// endpoint of a room reads it through the same one.
func (l *loader) roomIntegrations(c *Config, integrations map[string]bool) {
	type first struct{ integration, endpoint string }
	byRoom := map[string]first{}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if e.Integration != "" && !integrations[e.Integration] {
			l.errorf(e.Pos.Line("integration"), "endpoint %q: integration %q is not defined%s", e.Name, e.Integration, known(integrations))
			continue
		}
		if e.Room == "" {
			continue
		}
		eff := e.Integration
		if eff == "" {
			p := c.Profile(e.Profile)
			if p == nil {
				continue // reported
			}
			eff = p.Integration
		}
		f, ok := byRoom[e.Room]
		if !ok {
			byRoom[e.Room] = first{eff, e.Name}
			continue
		}
		if f.integration != eff {
			key := "integration"
			if !e.Pos.Has(key) {
				key = ""
			}
			l.errorf(e.Pos.Line(key), "endpoint %q: room %s is read through integration %q here but %q for endpoint %q; a room is read through one integration: give every endpoint of the room the same integration:",
				e.Name, e.Room, eff, f.integration, f.endpoint)
		}
	}
}
