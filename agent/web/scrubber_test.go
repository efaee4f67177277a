package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestScrubberRedactsEveryFormOfEverySecret: each secret, in each form a page or a JSON answer
// carries it, becomes [redacted]; overlapping secrets leave no part of either behind; text without a secret comes back untouched.
func TestScrubberRedactsEveryFormOfEverySecret(t *testing.T) {
	sc := newScrubber([]string{"abcd", "cdefgh", `p&ss"w/rd?`, "zzz"})
	for in, want := range map[string]string{
		"xxabcdefghyy":           "xx[redacted]yy",       // overlapping: no "efgh" left beside the first
		"abcdabcd":               "[redacted][redacted]", // adjacent: each replaced
		"x p&amp;ss&#34;w/rd? y": "x [redacted] y",       // HTML-escaped
		`"p\u0026ss\"w/rd?"`:     `"[redacted]"`,         // JSON-escaped
		"/p&ss%22w%2Frd%3F":      "/[redacted]",          // URL path-escaped
		"q=p%26ss%22w%2Frd%3F":   "q=[redacted]",         // query-escaped
		"zzz and abc stay":       "zzz and abc stay",     // under 4 bytes: never scrubbed; a prefix is no match
		"":                       "",
	} {
		assert.Equal(t, want, string(sc.scrub([]byte(in))), "scrub(%q)", in)
		assert.Equal(t, want != in, sc.touches(in), "touches(%q)", in)
	}
}

// TestScrubberWithThousandsOfSecrets: a site's worth of secrets (1,000 codec passwords) are
// all found in one body, wherever they are, and the rest of the body is kept.
func TestScrubberWithThousandsOfSecrets(t *testing.T) {
	var secrets []string
	var body, want strings.Builder
	for i := range 1000 {
		s := fmt.Sprintf("codec-pass-%04d-x", i)
		secrets = append(secrets, s)
		fmt.Fprintf(&body, `{"endpoint":"c%d","detail":"login %s refused"},`, i, s)
		fmt.Fprintf(&want, `{"endpoint":"c%d","detail":"login [redacted] refused"},`, i)
	}
	sc := newScrubber(secrets)
	assert.Equal(t, want.String(), string(sc.scrub([]byte(body.String()))))
}
