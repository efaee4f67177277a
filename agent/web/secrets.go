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
//
// It reads a body once, whatever the number of secrets: a site with 1,000 codec passwords has
// about 5,000 forms, and a pass per form over every API answer was a quarter of the agent's CPU
// while a status poller watched a cold sync. Forms are indexed by their first 4 bytes (every
// form is at least that long), each position of the body is looked up once, and every byte any
// form covers is redacted: overlapping or adjacent matches become one [redacted], so no part
// of a secret is left beside another's replacement.
type scrubber struct {
	byPrefix map[uint32][][]byte
}

func newScrubber(secrets []string) *scrubber {
	s := &scrubber{byPrefix: map[uint32][][]byte{}}
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= 4 && !seen[v] {
			seen[v] = true
			k := prefixKey([]byte(v))
			s.byPrefix[k] = append(s.byPrefix[k], []byte(v))
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
	return s
}

func prefixKey(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

var redacted = []byte(config.Redacted)

// covered returns the end of the longest form that starts at b[i:], or i when none does.
func (s *scrubber) covered(b []byte, i int) int {
	end := i
	for _, f := range s.byPrefix[prefixKey(b[i:])] {
		if i+len(f) > end && bytes.HasPrefix(b[i:], f) {
			end = i + len(f)
		}
	}
	return end
}

func (s *scrubber) scrub(b []byte) []byte {
	if len(s.byPrefix) == 0 {
		return b
	}
	var out []byte // nil until the first match: most bodies hold no secret
	copied := 0    // b[:copied] is in out (or needs no copy yet)
	for i := 0; i+4 <= len(b); i++ {
		end := s.covered(b, i)
		if end == i {
			continue
		}
		// Extend over every form that starts inside the run (overlaps and neighbours).
		for j := i + 1; j < end && j+4 <= len(b); j++ {
			end = max(end, s.covered(b, j))
		}
		out = append(append(out, b[copied:i]...), redacted...)
		copied, i = end, end-1
	}
	if out == nil {
		return b
	}
	return append(out, b[copied:]...)
}

// touches reports whether scrub would change b.
func (s *scrubber) touches(b string) bool {
	bb := []byte(b)
	for i := 0; i+4 <= len(bb); i++ {
		if s.covered(bb, i) > i {
			return true
		}
	}
	return false
}
