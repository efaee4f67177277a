package poly

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Capture mode (ews.capture: true) logs what real endpoints send, so the EWS subset can be
// checked against a device nobody has captured yet (README "Poly endpoints"): the first requests of
// every endpoint, and every request the service refused with a fault. Credentials never reach
// the log: the Authorization and Cookie headers are replaced by their scheme, and the text of
// any element whose name contains "password" is blanked.
const (
	captureFirst     = 20  // exchanges logged per endpoint from start
	captureMaxFaults = 100 // faulted requests logged per endpoint
	captureMaxBody   = 64 << 10
	captureMaxReply  = 4 << 10
)

type capturer struct {
	mu     sync.Mutex
	seen   map[string]int // endpoint → exchanges logged
	faults map[string]int // endpoint → faults logged
	warned map[string]bool
}

func newCapturer() *capturer {
	return &capturer{seen: map[string]int{}, faults: map[string]int{}, warned: map[string]bool{}}
}

// want reports whether an exchange of endpoint should be logged.
func (c *capturer) want(endpoint string, fault bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[endpoint] < captureFirst {
		c.seen[endpoint]++
		return true
	}
	if fault && c.faults[endpoint] < captureMaxFaults {
		c.faults[endpoint]++
		return true
	}
	return false
}

// firstUnsupported reports whether endpoint's use of op is news (logged once without capture).
func (c *capturer) firstUnsupported(endpoint, op string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := endpoint + "\x00" + op
	if c.warned[k] || len(c.warned) > 1000 {
		return false
	}
	c.warned[k] = true
	return true
}

var passwordText = regexp.MustCompile(`(?is)(<([A-Za-z0-9_.-]+:)?[A-Za-z0-9_.-]*password[A-Za-z0-9_.-]*(\s[^>]*)?>)[^<]*`)

// redactBody blanks password elements and caps the size.
func redactBody(b []byte, limit int) string {
	s := string(b)
	truncated := false
	if len(s) > limit {
		s, truncated = strings.ToValidUTF8(s[:limit], ""), true
	}
	s = passwordText.ReplaceAllString(s, "${1}[redacted]")
	if truncated {
		s += "…[truncated]"
	}
	return s
}

// redactHeaders renders request headers with credentials reduced to their scheme.
func redactHeaders(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range h[k] {
			switch strings.ToLower(k) {
			case "authorization", "proxy-authorization":
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " [redacted]"
			case "cookie", "set-cookie":
				v = "[redacted]"
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
		}
	}
	return b.String()
}
