package rules

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Domains is a rule's domain key. The config spells it as one domain (`domain: vmr.example.com`)
// or, for domain rules, a list (`domain: [vmr.example.com, video.example.com]`); every other
// type takes exactly one.
type Domains []string

// UnmarshalYAML takes a scalar or a list of scalars.
func (d *Domains) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
			*d = nil
			return nil
		}
		*d = Domains{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Domains, 0, len(n.Content))
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode {
				return domainsError(it)
			}
			out = append(out, it.Value)
		}
		*d = out
		return nil
	}
	return domainsError(n)
}

// domainsError is a type error, so the rest of the file is still decoded and checked.
func domainsError(n *yaml.Node) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: domain: give a domain or a list of domains", n.Line)}}
}

// MarshalYAML writes one domain as a scalar, several as a list.
func (d Domains) MarshalYAML() (any, error) {
	switch len(d) {
	case 0:
		return "", nil
	case 1:
		return d[0], nil
	}
	return []string(d), nil
}

// String joins the domains for messages.
func (d Domains) String() string { return strings.Join(d, ", ") }

// lowered returns the domains trimmed and lower-cased, empty ones dropped.
func (d Domains) lowered() []string {
	var out []string
	for _, s := range d {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}
