package poly

import (
	"context"
	"encoding/json"
	"time"

	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/store"
)

// The REST health checks of each endpoint with an address (scheduled in restsched.go), and
// what a check's result does to the endpoint's row. The certificate is handled as the Cisco driver does (package pin): pinned
// on first use; a changed one is refused before the login is sent, the row goes to
// cert_changed with the presented fingerprint, and `otj-edge endpoints trust` makes it the pin,
// which is read again every CertRecheck while the endpoint's certificate is refused.

// restRecheckMin is the least time between two REST checks of one endpoint.
const restRecheckMin = 20 * time.Second

// storedPin is the certificate pin the store holds for a ("" before the first check).
func (s *Service) storedPin(ctx context.Context, a *account) string {
	e, _, err := s.st.Endpoint(ctx, a.Name)
	if err != nil {
		s.log.Warn("poly REST health: read endpoint", "endpoint", a.Name, "err", err)
	}
	return e.CertSHA256
}

// restCheck runs one REST check of a with c (c nil: the first, which makes the client) and
// records it. It returns the client to check with next time (nil: none, the address is
// unusable) and whether the check met a refused certificate.
func (s *Service) restCheck(ctx context.Context, a *account, c *restClient) (*restClient, bool) {
	if c == nil {
		var err error
		if c, err = newRESTClient(a, s.storedPin(ctx, a)); err != nil {
			s.setREST(ctx, a, nil, restStatus{Checked: s.clock.Now(), Error: err.Error()})
			return nil, false
		}
	}
	c.usePin(s.storedPin(ctx, a))
	cctx, cancel := context.WithTimeout(ctx, 2*restTimeout)
	st := c.check(cctx)
	cancel()
	if ctx.Err() != nil {
		return c, false
	}
	st.Checked = s.clock.Now()
	s.setREST(ctx, a, c, st)
	return c, st.changed != nil
}

// pinAccepted reports whether an operator has accepted another certificate for a since c
// refused one (`otj-edge endpoints trust` from another process).
func (s *Service) pinAccepted(ctx context.Context, a *account, c *restClient) bool {
	return !c.fixed && s.storedPin(ctx, a) != c.ver.Pin()
}

// setREST records a REST health result: the endpoint row (model, firmware, pin, data), health,
// and an event when the state changes.
func (s *Service) setREST(ctx context.Context, a *account, c *restClient, st restStatus) {
	s.pollMu.Lock()
	prev := s.rest[a.Name]
	s.rest[a.Name] = &st
	pollState, pollDetail := store.EndpointUnknown, ""
	if p := s.polls[a.Name]; p != nil && p.state != "" {
		pollState, pollDetail = p.state, p.detail
	}
	s.pollMu.Unlock()
	s.reportHealth(a)

	wasBad := prev != nil && (prev.Error != "" || (prev.Calendar != "" && prev.Calendar != "ONLINE"))
	bad := st.Error != "" || (st.Calendar != "" && st.Calendar != "ONLINE")
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		e, err := s.endpointRow(tx, a)
		if err != nil {
			return err
		}
		if st.Model != "" {
			e.Product, e.Software = st.Model, st.Software
		}
		var evs []store.Event
		if c != nil {
			evs = s.restCertificate(&e, a, c, prev, st, pollState, pollDetail)
		}
		e.Data = marshalData(polyData{REST: &st})
		if err := tx.PutEndpoint(e); err != nil {
			return err
		}
		switch {
		case bad && (!wasBad || prev == nil || prev.Error != st.Error || prev.Calendar != st.Calendar):
			msg := st.Error
			if msg == "" {
				msg = "the endpoint reports its calendar as " + st.Calendar
			}
			evs = append(evs, store.Event{Kind: "endpoint.health", Level: "warn", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": " + msg, Data: map[string]any{"calendar": st.Calendar, "error": st.Error}})
		case !bad && wasBad:
			evs = append(evs, store.Event{Kind: "endpoint.health", Level: "info", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": REST health is fine again; calendar " + st.Calendar, Data: map[string]any{"calendar": st.Calendar}})
		}
		return tx.Emit(evs...)
	})
	if err != nil {
		s.log.Warn("poly REST health: record", "endpoint", a.Name, "err", err)
	}
}

// restCertificate applies what a check met of the endpoint's certificate to its row e, and
// returns the events to emit. A changed certificate puts the row in cert_changed (unless the
// endpoint's polling is in worse trouble: not polling or a wrong calendar password, which
// stay) with the presented fingerprint for `otj-edge endpoints trust`; an accepted one clears
// that and gives the row back its polling state.
func (s *Service) restCertificate(e *store.EndpointState, a *account, c *restClient, prev *restStatus, st restStatus, pollState, pollDetail string) []store.Event {
	var evs []store.Event
	if !c.ver.CA() {
		switch {
		case c.fixed:
			e.CertSHA256 = c.ver.Pin()
		case e.CertSHA256 == "" && st.changed == nil:
			e.CertSHA256 = c.ver.Pin() // pinned on first use ("" until a handshake)
		}
	}
	switch {
	case st.changed != nil && !c.fixed && e.CertSHA256 == st.changed.Presented:
		// An operator accepted this very certificate while the check ran: the next one uses it.
	case st.changed != nil:
		if e.SeenSHA256 != st.changed.Presented {
			evs = append(evs, store.Event{Kind: "endpoint.cert_changed", Level: "error", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": " + st.Error, Data: map[string]any{"presented": st.changed.Presented, "pinned": st.changed.Pinned}})
			s.log.Error("poly endpoint certificate changed; REST health checks refuse it", "endpoint", a.Name,
				"presented", st.changed.Presented, "pinned", st.changed.Pinned)
		}
		e.SeenSHA256 = st.changed.Presented
		if e.State != store.EndpointNotPolling && e.State != store.EndpointAuthFailed {
			e.State, e.Detail = store.EndpointCertChanged, st.Error
		}
	case st.answered:
		if (prev != nil && prev.changed != nil) || e.State == store.EndpointCertChanged {
			evs = append(evs, store.Event{Kind: "endpoint.cert_accepted", Level: "info", Room: a.room, Endpoint: a.Name,
				Message: a.Name + ": REST health check connected with the new certificate " + pin.Colon(c.ver.Presented())})
		}
		e.SeenSHA256 = ""
		if e.State == store.EndpointCertChanged || e.State == store.EndpointUnknown {
			e.State, e.Detail = pollState, pollDetail
		}
	}
	return evs
}

// certRefused reports whether a's last REST check refused its certificate, with the detail
// (under pollMu).
func (s *Service) certRefused(a *account) (string, bool) {
	if r := s.rest[a.Name]; r != nil && r.changed != nil {
		return r.Error, true
	}
	return "", false
}

// marshalData encodes the endpoint's driver data.
func marshalData(d polyData) json.RawMessage {
	b, _ := json.Marshal(d)
	return b
}
