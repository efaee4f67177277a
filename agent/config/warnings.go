package config

import (
	"net/url"
	"os"
	"runtime"
	"strings"
	"unicode/utf8"
)

// MinSecretLength is the shortest secret check accepts without a warning. Every configured
// secret is replaced by [redacted] wherever the agent prints text (logs, status page, API,
// MQTT), so a short one blots out ordinary words there, and one under 4 characters is not
// scrubbed at all (see agent/logging.go).
const MinSecretLength = 8

// warnShortSecret warns about a resolved secret shorter than MinSecretLength, without saying
// how long it is.
func (l *loader) warnShortSecret(owner string, s Secret, line int, key string) {
	if !s.IsSet() || utf8.RuneCountInString(s.Value()) >= MinSecretLength {
		return
	}
	l.warnf(line, "%s%s is shorter than %d characters: every configured secret shows as [redacted] wherever otj-edge "+
		"prints text, so a short one would hide ordinary words in its logs and pages (under 4 characters it is not hidden "+
		"at all), and it is easy to guess; use a long random value", owner, key, MinSecretLength)
}

// secretGiven reports whether the config gives a secret for key: resolved, or (with
// SkipSecrets) written but left unresolved. Checks that a secret accompanies a setting use it,
// so rules test does not call a config wrong for lacking what it chose not to read.
func (l *loader) secretGiven(s Secret, pos Pos, key string) bool {
	return s.IsSet() || (l.skipSecrets && (pos.Has(key) || pos.Has(key+"_file")))
}

// RedactURL hides the password of a URL's user:password@ part for messages. It works on text
// that does not parse as a URL too (a malformed broker URL is exactly the one printed in an
// error): whatever sits between "://" and the last "@" of the authority, after the user name,
// is replaced. Without "://", everything before an "@" is hidden.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return Redacted + s[i:]
		}
		return s
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	return scheme + "://" + user + ":" + Redacted + rest[at:]
}

// warnPlainMQTT warns when MQTT credentials would cross the network unencrypted: a user name or
// password (in mqtt.username/password or in the URL) for a tcp://, mqtt:// or ws:// broker that
// is not on this machine. (paho dials these schemes in the clear even with mqtt.ca_file set.)
func (l *loader) warnPlainMQTT(m *MQTT, u *url.URL) {
	if !oneOf(strings.ToLower(u.Scheme), "tcp", "mqtt", "ws") || isLoopback(u.Hostname()) {
		return
	}
	if m.Username == "" && !l.secretGiven(m.Password, m.Pos, "password") && u.User == nil {
		return
	}
	secure := "ssl://" + u.Hostname() + ":8883"
	if strings.EqualFold(u.Scheme, "ws") {
		secure = "wss://" + u.Host + u.Path
	}
	l.warnf(m.Pos.Line("broker"), "mqtt.broker %s is not encrypted (%s://) and not on this machine: the MQTT user name and password "+
		"cross the network in clear text, readable by anyone on the path; use %s (with mqtt.ca_file if the broker's "+
		"certificate is from a private CA)", RedactURL(m.Broker), u.Scheme, secure)
}

// warnStateDirMode warns when others than the agent's user can look into the state directory:
// it holds the calendar store (meeting subjects, organizers, join links) and the pinned codec
// certificates. Windows protects it by ACLs instead.
func (l *loader) warnStateDirMode(c *Config) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(c.StateDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	l.warnf(c.Pos.Line("state_dir"), "state_dir %s is open to group or others (mode %04o); it holds the calendar store "+
		"(meeting subjects, organizers and join links) and the codecs' pinned certificates: run chmod 700 %s",
		c.StateDir, fi.Mode().Perm(), c.StateDir)
}
