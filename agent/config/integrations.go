package config

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Integrations are calendar sources, and each type owns its keys (Caddy's modules are the
// model): an integration is its name and type, and the rest of its mapping is decoded into the
// settings of the type it names and checked by them. A type registers itself here (graph.go
// for Graph) with RegisterIntegrationType; the agent's table of sources (agent/sources.go)
// builds and checks a running source from the settings. The loader keeps its strengths for
// every type: strict keys (an unknown one is an error, with a suggestion), FILE:LINE on every
// problem, and every problem at once.

// Integration is a calendar source (Pexip's "Graph integration"): its name, its type, and the
// type's own settings.
type Integration struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // graph, or another registered type
	// Settings are the type's keys, decoded into the value its RegisterIntegrationType function
	// made (Graph: *Graph); nil when the type is missing or not known (validation says so).
	// Inline: its keys sit beside name and type in the file (and in secret paths such as
	// integrations[0].client_secret). Integration decodes itself (UnmarshalYAML), so yaml.v3
	// never reads this tag on an interface.
	Settings IntegrationSettings `yaml:",inline"`
	// Shadow, when set, also reads the rooms it names in shadow: into a store of its own,
	// driving no endpoint, for `otj-edge migrate status` to compare (shadow.go).
	Shadow *Shadow `yaml:"shadow"`
	Pos    Pos     `yaml:"-"`

	// decodeProblems are the type errors UnmarshalYAML met (yaml.v3 drops a list item whose
	// UnmarshalYAML fails, and validation still wants to see the integration): the loader
	// reports them with their lines.
	decodeProblems []string
}

// Format prints the integration as {name type}, whatever the verb: its settings stay out,
// because fmt prints a pointer nested in a struct with any verb but %v raw, Secret fields
// included, and no settings type should have to guard against that on its own.
func (in Integration) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "{%s %s}", in.Name, in.Type) }

// IntegrationSettings are one integration type's own keys: a pointer to a struct whose fields
// carry yaml tags (unknown keys are refused against them, and a Secret field is covered by the
// scrubber and the parts' restart keys without more). It has no Pos of its own: Check reports
// at the lines of the integration's keys.
type IntegrationSettings interface {
	// Check applies defaults and validates the settings (after decoding), reporting every
	// problem through c; derived values (a parsed URL, a certificate read from its file) are
	// stored in the settings for the source to use.
	Check(c *IntegrationCheck)
}

// integrationTypes maps a type name to the constructor of its settings.
var integrationTypes = map[string]func() IntegrationSettings{}

// RegisterIntegrationType makes integrations of type name decode into the settings newSettings
// makes. Types register in init (a test may register its own), before any config is loaded;
// a name registered twice is a bug.
func RegisterIntegrationType(name string, newSettings func() IntegrationSettings) {
	if _, dup := integrationTypes[name]; dup || name == "" || newSettings == nil {
		panic(fmt.Sprintf("config: integration type %q registered twice or without settings", name))
	}
	integrationTypes[name] = newSettings
}

// IntegrationTypes lists the registered integration types, sorted.
func IntegrationTypes() []string {
	out := make([]string, 0, len(integrationTypes))
	for n := range integrationTypes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewIntegrationSettings makes empty settings of type name (tests that walk every type's
// keys); nil for a type not registered.
func NewIntegrationSettings(name string) IntegrationSettings {
	if newSettings := integrationTypes[name]; newSettings != nil {
		return newSettings()
	}
	return nil
}

// Graph is the integration's Graph settings; nil unless it is of type graph.
func (in Integration) Graph() *Graph {
	g, _ := in.Settings.(*Graph)
	return g
}

// integrationHead is what every integration has; the rest of the mapping is its type's.
type integrationHead struct {
	Name   string  `yaml:"name"`
	Type   string  `yaml:"type"`
	Shadow *Shadow `yaml:"shadow"`
}

// UnmarshalYAML decodes the name and type, then the whole mapping again into the type's
// settings (their decoder ignores name and type; the loader's walk refuses keys neither has).
// Type errors from both are kept, with their lines, for the loader to report
// (decodeProblems); decoding goes on, so every problem shows at once.
func (in *Integration) UnmarshalYAML(n *yaml.Node) error {
	keep := func(err error) error {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			in.decodeProblems = append(in.decodeProblems, te.Errors...)
			return nil
		}
		return err
	}
	var head integrationHead
	if err := keep(n.Decode(&head)); err != nil {
		return err
	}
	in.Name, in.Type, in.Shadow = head.Name, head.Type, head.Shadow
	if newSettings, ok := integrationTypes[head.Type]; ok && n.Kind == yaml.MappingNode {
		s := newSettings()
		if err := keep(n.Decode(s)); err != nil {
			return err
		}
		in.Settings = s
	}
	return nil
}

func (l *loader) integrations(c *Config) map[string]bool {
	names := map[string]int{}
	types := strings.Join(IntegrationTypes(), ", ")
	for i := range c.Integrations {
		in := &c.Integrations[i]
		l.uniqueName("integration", in.Name, in.Pos, names)
		switch {
		case in.Type == "":
			l.errorf(in.Pos.Line("type"), "integration %q: type is required (%s)", in.Name, types)
		case integrationTypes[in.Type] == nil:
			l.errorf(in.Pos.Line("type"), "integration %q: type %q is not supported (%s)", in.Name, in.Type, types)
		case in.Settings != nil: // nil: the mapping did not decode (reported)
			in.Settings.Check(&IntegrationCheck{l: l, in: in})
		}
	}
	if len(c.Integrations) == 0 {
		l.errorf(c.Pos.Line(""), "integrations: at least one calendar integration is required")
	}
	out := map[string]bool{}
	for n := range names {
		out[n] = true
	}
	return out
}

// IntegrationCheck is what an integration type's Check uses: it reports problems at the lines
// of the integration's keys, prefixed with the integration's name, and reads secrets and files
// the way every section of the config does (paths relative to the config file, secret files'
// modes checked, short secrets warned about).
type IntegrationCheck struct {
	l  *loader
	in *Integration
}

// Name is the integration's name.
func (c *IntegrationCheck) Name() string { return c.in.Name }

// Has reports whether key was written in the integration's mapping.
func (c *IntegrationCheck) Has(key string) bool { return c.in.Pos.Has(key) }

// Line is key's line, or the mapping's when key is "" or absent.
func (c *IntegrationCheck) Line(key string) int { return c.in.Pos.Line(key) }

func (c *IntegrationCheck) owner() string { return fmt.Sprintf("integration %q: ", c.in.Name) }

// Errorf reports a problem at key's line as `integration "NAME": message`.
func (c *IntegrationCheck) Errorf(key, format string, args ...any) {
	c.l.errorf(c.Line(key), "%s%s", c.owner(), fmt.Sprintf(format, args...))
}

// Warnf reports a warning (the agent runs anyway) at key's line.
func (c *IntegrationCheck) Warnf(key, format string, args ...any) {
	c.l.warnf(c.Line(key), "%s%s", c.owner(), fmt.Sprintf(format, args...))
}

// Secret resolves the secret of key: inline (with ${ENV} expanded) or from the file named by
// key_file, whose name the caller passes in file; not both. required says a value must be
// given.
func (c *IntegrationCheck) Secret(s *Secret, file, key string, required bool) {
	c.l.resolveSecret(c.owner(), s, file, c.in.Pos, key, required)
}

// SecretGiven reports whether the config gives key's secret (resolved, or written but left
// unresolved because secrets are skipped).
func (c *IntegrationCheck) SecretGiven(s Secret, key string) bool {
	return c.l.secretGiven(s, c.in.Pos, key)
}

// Path anchors a path from the config at the config file's directory.
func (c *IntegrationCheck) Path(p string) string { return c.l.abs(p) }

// FileExists reports a problem at key's line when path ("" = none) does not exist.
func (c *IntegrationCheck) FileExists(key, path string) { c.l.fileExists(path, c.in.Pos, key) }

// ReadKeyFile reads the file of key, which holds a private key: a warning when group or others
// may read it, a problem (and ok false) when it cannot be read.
func (c *IntegrationCheck) ReadKeyFile(key, path string) (data []byte, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		c.Errorf(key, "%s: cannot read %s: %s", key, path, describeFileErr(err))
		return nil, false
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			c.Warnf(key, "%s %s holds a private key and is readable by group or others (mode %04o); run: chmod 600 %s",
				key, path, fi.Mode().Perm(), path)
		}
	}
	return data, true
}

// Now is the time certificates' validity is judged against.
func (c *IntegrationCheck) Now() time.Time { return c.l.now() }

// SkipSecrets reports whether secrets are left unread (commands that never use one): files
// holding private keys are not read then either.
func (c *IntegrationCheck) SkipSecrets() bool { return c.l.skipSecrets }
