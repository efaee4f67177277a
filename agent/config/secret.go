package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted is what a Secret prints as everywhere: logs, JSON, YAML, fmt.
const Redacted = "[redacted]"

// Secret is a credential. It never prints its value: String, fmt verbs, slog, JSON and YAML all
// show "[redacted]"; only Value returns it. A secret may be given inline, as ${ENV} (expanded at
// load time), or through the sibling *_file key.
type Secret struct {
	value string
}

// NewSecret wraps a value (tests and generated configs).
func NewSecret(v string) Secret { return Secret{value: v} }

// Value is the secret itself. Call it only where the secret is used.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// String hides the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return Redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// Format hides the value from every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML hides the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a scalar string.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret must be a string", n.Line)}}
	}
	s.value = n.Value
	return nil
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the environment variable's value ($$ is a literal $). A
// reference to an unset variable is an error naming it.
func expandEnv(v string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(v, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		val, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// resolveSecret fills s from the inline value (with ${ENV} expanded) or from file. owner and key
// name the section and YAML key for messages; required says whether a value must come from
// somewhere.
func (l *loader) resolveSecret(owner string, s *Secret, file string, pos Pos, key string, required bool) {
	if s.value != "" && file != "" {
		l.errorf(pos.Line(key+"_file"), "%sgive %s or %s_file, not both", owner, key, key)
		return
	}
	if l.skipSecrets && (file != "" || s.value != "") {
		// Use what resolves without complaint (a literal value, a set variable); leave the
		// rest empty. Nothing is said about length or file modes: the caller never uses them.
		s.value, _ = expandEnv(s.value, l.env)
		return
	}
	if file != "" {
		path := l.abs(file)
		data, err := os.ReadFile(path)
		if err != nil {
			l.errorf(pos.Line(key+"_file"), "%s%s_file: cannot read %s: %s", owner, key, path, describeFileErr(err))
			return
		}
		if runtime.GOOS != "windows" {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				l.warnf(pos.Line(key+"_file"), "%s%s_file %s is readable by group or others (mode %04o); run: chmod 600 %s", owner, key, path, fi.Mode().Perm(), path)
			}
		}
		s.value = strings.TrimRight(string(data), "\r\n")
		if s.value == "" {
			l.errorf(pos.Line(key+"_file"), "%s%s_file %s is empty", owner, key, path)
		}
		l.warnShortSecret(owner, *s, pos.Line(key+"_file"), key+"_file")
		return
	}
	if s.value != "" {
		v, err := expandEnv(s.value, l.env)
		if err != nil {
			l.errorf(pos.Line(key), "%s%s: %s", owner, key, err)
			return
		}
		s.value = v
		if v == "" && required {
			l.errorf(pos.Line(key), "%s%s is empty after expanding the environment", owner, key)
		}
		l.warnShortSecret(owner, *s, pos.Line(key), key)
		return
	}
	if required {
		l.errorf(pos.Line(key), "%s%s (or %s_file) is required", owner, key, key)
	}
}

func describeFileErr(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	return err.Error()
}
