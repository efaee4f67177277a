package device

import (
	"context"
	"errors"
	"time"
)

// Driver is what the agent and the CLI need from the driver of one endpoint type. One driver
// serves every configured endpoint of its type; the agent builds it from the config (its row
// in the agent's endpoint-type table, agent/endpoints.go) and runs it as a part.
//
// An endpoint's state (up, down, auth_failed, cert_changed…) lives in its store row
// (store.EndpointState), which the driver keeps current and `otj-edge endpoints`, the status
// page and MQTT read. A certificate the driver refused is accepted there too: the driver
// records the presented fingerprint (package pin) and reads the pin again before connecting,
// so `otj-edge endpoints trust` works for every type that pins.
type Driver interface {
	// Run serves the endpoints until ctx ends (stop), then returns nil.
	Run(ctx context.Context) error
	// Push sends the bookings of the named endpoint ("" every one) now, in full, and waits
	// until each is answered or ctx ends (those still going are OutcomePending). A driver
	// whose endpoints fetch their calendar themselves answers ErrPulled: their meetings are
	// served at their next poll.
	Push(ctx context.Context, name string) ([]Result, error)
	// Retry makes one connection attempt to the named endpoint now, even while it waits out
	// a refused login, pushes when it connects, and says how it went. ErrPulled likewise.
	Retry(ctx context.Context, name string) (Result, error)
}

// ErrPulled is a driver's answer to Push and Retry when its endpoints fetch their calendar
// from otj-edge themselves (Poly over EWS): there is nothing to push or retry; each is served
// its meetings at its next poll.
var ErrPulled = errors.New("it fetches its calendar from otj-edge itself (served at its next poll), so there is nothing to push or retry")

// Pulled answers Push and Retry with ErrPulled: drivers of pulled endpoints embed it.
type Pulled struct{}

// Push answers ErrPulled.
func (Pulled) Push(context.Context, string) ([]Result, error) { return nil, ErrPulled }

// Retry answers ErrPulled.
func (Pulled) Retry(context.Context, string) (Result, error) { return Result{}, ErrPulled }

// Outcomes of a push, as the caller of Push or Retry hears them.
const (
	OutcomePushed    = "pushed"    // the endpoint accepted the room's bookings, a changed list
	OutcomeUnchanged = "unchanged" // it accepted them: the same list as last time
	OutcomeWaiting   = "waiting"   // nothing sent: the room has not synced yet
	OutcomeFailed    = "failed"    // not pushed; Detail says why
	OutcomePending   = "pending"   // not finished when the caller stopped waiting
)

// Result is what a Push or Retry did to one endpoint.
type Result struct {
	Endpoint string `json:"endpoint"`
	Outcome  string `json:"outcome"`
	// Bookings is how many bookings the endpoint accepted (pushed, unchanged).
	Bookings int `json:"bookings"`
	// State and Detail are the endpoint's state after; for a failure, Detail says why.
	State     string `json:"state"`
	Detail    string `json:"detail"`
	Connected bool   `json:"connected"`
	// Attempts counts the connection attempts (logins) the request made: a Retry makes at
	// most one, a Push one only to an endpoint that is away and not waiting out a refusal.
	Attempts int `json:"attempts"`
	// NextAttempt is, while disconnected, when the driver tries again by itself.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// OK reports whether the push did what it should: pushed, or rightly held back.
func (r Result) OK() bool {
	return r.Outcome == OutcomePushed || r.Outcome == OutcomeUnchanged || r.Outcome == OutcomeWaiting
}
