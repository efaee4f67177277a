package config

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/otj-edge/otj-edge/agent/secret"
)

// Redacted is what a Secret prints as everywhere: logs, JSON, YAML, fmt.
const Redacted = secret.Redacted

// Secret is a credential (package agent/secret, so the leaves that use one need not import the
// config). It never prints its value: String, fmt verbs, slog, JSON and YAML all show
// "[redacted]"; only Value returns it. A secret may be given inline, as ${ENV} (expanded at
// load time), or through the sibling *_file key.
type Secret = secret.Secret

// NewSecret wraps a value (tests and generated configs).
func NewSecret(v string) Secret { return secret.New(v) }

// Secrets lists every secret set anywhere in the config with its path (e.g.
// "endpoints[2].calendar_password"), found by reflection: a secret added to any section later
// is covered without a change here. The log scrubber, the status page's scrubber and the
// parts' restart keys all use this one list.
func (c *Config) Secrets() []secret.Field {
	if c == nil {
		return nil
	}
	return secret.Find(c)
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
	if s.Value() != "" && file != "" {
		l.errorf(pos.Line(key+"_file"), "%sgive %s or %s_file, not both", owner, key, key)
		return
	}
	if l.skipSecrets && (file != "" || s.Value() != "") {
		// Use what resolves without complaint (a literal value, a set variable); leave the
		// rest empty. Nothing is said about length or file modes: the caller never uses them.
		v, _ := expandEnv(s.Value(), l.env)
		*s = secret.New(v)
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
		*s = secret.New(strings.TrimRight(string(data), "\r\n"))
		if !s.IsSet() {
			l.errorf(pos.Line(key+"_file"), "%s%s_file %s is empty", owner, key, path)
		}
		l.warnShortSecret(owner, *s, pos.Line(key+"_file"), key+"_file")
		return
	}
	if s.IsSet() {
		v, err := expandEnv(s.Value(), l.env)
		if err != nil {
			l.errorf(pos.Line(key), "%s%s: %s", owner, key, err)
			return
		}
		*s = secret.New(v)
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
