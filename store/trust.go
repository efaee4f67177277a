package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrNothingToTrust is returned by TrustSeenCertificate when the endpoint has no refused
// certificate waiting.
var ErrNothingToTrust = errors.New("no changed certificate to accept")

// TrustSeenCertificate accepts the certificate an endpoint presented but that did not match
// its pin (`otj-edge endpoints trust`): the presented fingerprint becomes the pin and the
// state starts over. It works from a second process while the agent runs; the driver reads
// the pin afresh before each connection attempt. It returns the updated row.
func (s *Store) TrustSeenCertificate(ctx context.Context, name string) (EndpointState, error) {
	var out EndpointState
	err := s.Write(ctx, func(t *Tx) error {
		e, ok, err := t.Endpoint(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("endpoint %s is not in the store (is it configured, and has the agent run since?)", name)
		}
		if e.SeenSHA256 == "" {
			return fmt.Errorf("endpoint %s: %w (state %s)", name, ErrNothingToTrust, e.State)
		}
		e.CertSHA256, e.SeenSHA256 = e.SeenSHA256, ""
		e.State = EndpointUnknown
		e.Detail = "new certificate accepted by an operator; reconnecting"
		if err := t.PutEndpoint(e); err != nil {
			return err
		}
		out = e
		return nil
	})
	return out, err
}
