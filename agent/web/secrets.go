package web

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/url"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
)

// secretValues lists every secret value set anywhere in cfg: config.Secrets, the one
// reflective list the logger and the parts' restart keys use too, so secrets added to the
// config later are covered without a change here.
func secretValues(cfg *config.Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range cfg.Secrets() {
		// Values shorter than 4 bytes cannot be scrubbed without mangling ordinary text (the
		// logger draws the same line).
		if v := f.Secret.Value(); len(v) >= 4 && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// scrubber replaces secret values in a response body, in every form a page or a JSON
// document could carry them: as is, HTML-escaped, JSON-escaped and URL-escaped. Pages never
// print a secret on purpose; this is the last line of defence against one that slipped into a
// status detail or an event message.
type scrubber struct {
	forms [][]byte
}

func newScrubber(secrets []string) *scrubber {
	s := &scrubber{}
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			s.forms = append(s.forms, []byte(v))
		}
	}
	for _, v := range secrets {
		add(v)
		add(template.HTMLEscapeString(v))
		if b, err := json.Marshal(v); err == nil {
			add(strings.Trim(string(b), `"`))
		}
		add(url.PathEscape(v))
		add(url.QueryEscape(v))
	}
	// Longest first, so a form is never left half replaced by a shorter one inside it.
	for i := range s.forms {
		for j := i + 1; j < len(s.forms); j++ {
			if len(s.forms[j]) > len(s.forms[i]) {
				s.forms[i], s.forms[j] = s.forms[j], s.forms[i]
			}
		}
	}
	return s
}

var redacted = []byte(config.Redacted)

func (s *scrubber) scrub(b []byte) []byte {
	for _, f := range s.forms {
		if bytes.Contains(b, f) {
			b = bytes.ReplaceAll(b, f, redacted)
		}
	}
	return b
}

// touches reports whether scrub would change b.
func (s *scrubber) touches(b string) bool {
	for _, f := range s.forms {
		if strings.Contains(b, string(f)) {
			return true
		}
	}
	return false
}
