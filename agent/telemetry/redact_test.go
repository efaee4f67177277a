package telemetry

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A broker URL is printed in errors, health and `otj-edge fleet`; its password never is, even
// when the text is not a URL Go can parse (a mistyped --broker flag).
func TestRedactBrokerNeverPrintsThePassword(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ssl://site:hunter2secret@broker.example.com:8883", "ssl://broker.example.com:8883"},
		{"tcp://site:hunter2secret@bro ker:1883", "tcp://site:[redacted]@bro ker:1883"},
		{"tcp://site:hunter2secret@[::1:1883", "tcp://site:[redacted]@[::1:1883"},
		{"tcp://broker:1883", "tcp://broker:1883"},
	} {
		got := RedactBroker(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.NotContains(t, got, "hunter2secret")
	}
}
