package ciscosim

import (
	"crypto/tls"
	"slices"
)

// OfferedKeyExchanges are the TLS key exchange groups (supported_groups) the latest client
// offered, in its order: what a client spends its key shares on (CodecConfig.KeyExchanges
// are the codec's own).
func (c *Codec) OfferedKeyExchanges() []tls.CurveID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.offered)
}
