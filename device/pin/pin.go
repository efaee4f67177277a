// Package pin is how every endpoint driver trusts a device's TLS certificate: against a CA
// (ca_file), or by the certificate's SHA-256 fingerprint, configured up front (fingerprint) or
// pinned on first use and kept in the store. Devices ship self-signed certificates, so a pin
// is the usual case; a device that later presents another certificate is refused before any
// credential is sent, its endpoint goes to state cert_changed with the presented fingerprint
// in the store, and `otj-edge endpoints trust NAME` (store.TrustSeenCertificate) makes that
// fingerprint the pin. Drivers read the stored pin before each connection, so a trusted
// certificate is used without a restart.
package pin

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Fingerprint is the SHA-256 of a DER certificate in lower-case hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Normalize accepts a fingerprint in hex with or without colons, any case.
func Normalize(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}

// Colon formats a fingerprint as AB:CD:… (how devices' web pages show it).
func Colon(fp string) string {
	fp = strings.ToUpper(Normalize(fp))
	var b strings.Builder
	for i := 0; i < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(fp[i:min(i+2, len(fp))])
	}
	return b.String()
}

// Short is the first 8 bytes of a fingerprint, for messages.
func Short(fp string) string {
	c := Colon(fp)
	if len(c) > 23 {
		return c[:23] + "…"
	}
	return c
}

// LoadRoots reads a PEM CA bundle (an endpoint's ca_file).
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Policy says how one device's certificate is trusted.
type Policy struct {
	// Roots verifies the chain and the host name against a CA (ca_file). When set, Pin is
	// ignored.
	Roots *x509.CertPool
	// Pin is the expected SHA-256 of the leaf certificate (hex, any form). Empty: trust on
	// first use: the first certificate seen is accepted and becomes the pin.
	Pin string
}

// For is the policy of an endpoint: its CA (ca_file) when it has one, else its configured
// fingerprint, else the pin the store holds for it ("" before its first connection).
func For(roots *x509.CertPool, configured, stored string) Policy {
	switch {
	case roots != nil:
		return Policy{Roots: roots}
	case configured != "":
		return Policy{Pin: Normalize(configured)}
	}
	return Policy{Pin: Normalize(stored)}
}

// ChangedError: the device presented a certificate other than the pinned one. The handshake
// was refused, so no credential was sent.
type ChangedError struct {
	Pinned, Presented string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("the device presented certificate %s, not the pinned %s (credentials not sent)", Short(e.Presented), Short(e.Pinned))
}

// UntrustedError: verification against the configured CA failed.
type UntrustedError struct {
	Presented string
	Err       error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("certificate %s not trusted by ca_file: %v", Short(e.Presented), e.Err)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// Fix is what an operator does about a changed certificate of endpoint name: accept it with
// the CLI, or, when the pin is configured (fingerprint), change the config.
func Fix(name string, configured bool) string {
	if configured {
		return "if the device's certificate was renewed on purpose, update fingerprint for this endpoint in the config"
	}
	return "if the device was replaced, reset or its certificate renewed, accept the new one with: otj-edge endpoints trust " + name
}

// Verifier checks every TLS handshake with one device against its policy. The pin may change
// between handshakes (pinned on first use, or accepted by an operator): SetPin.
type Verifier struct {
	host  string
	roots *x509.CertPool

	mu        sync.Mutex
	pin       string
	presented string
	err       error
}

// NewVerifier checks handshakes with host (the name or address dialled, for CA verification)
// against p.
func NewVerifier(p Policy, host string) *Verifier {
	return &Verifier{host: host, roots: p.Roots, pin: Normalize(p.Pin)}
}

// TLSConfig is a client configuration whose handshakes the verifier checks. Go's own
// verification is off because devices ship self-signed certificates: VerifyConnection does
// the whole check (the CA's, with the host name, when there are roots).
func (v *Verifier) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection: a CA or a pin
		VerifyConnection:   v.verify,
	}
}

func (v *Verifier) verify(cs tls.ConnectionState) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.presented, v.err = "", nil
	if len(cs.PeerCertificates) == 0 {
		v.err = errors.New("the device presented no certificate")
		return v.err
	}
	leaf := cs.PeerCertificates[0]
	v.presented = Fingerprint(leaf.Raw)
	switch {
	case v.roots != nil:
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, DNSName: v.host}); err != nil {
			v.err = &UntrustedError{Presented: v.presented, Err: err}
		}
	case v.pin == "":
		v.pin = v.presented // trust on first use: later handshakes must present the same
	case v.presented != v.pin:
		v.err = &ChangedError{Pinned: v.pin, Presented: v.presented}
	}
	return v.err
}

// Pin is the fingerprint handshakes are checked against: the policy's, or the one pinned on
// first use; "" with a CA or before the first handshake.
func (v *Verifier) Pin() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pin
}

// SetPin replaces the pin (the store's changed: an operator accepted a new certificate).
// Ignored with a CA.
func (v *Verifier) SetPin(fp string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.roots == nil {
		v.pin = Normalize(fp)
	}
}

// CA reports whether the device is verified against a CA (ca_file) rather than pinned.
func (v *Verifier) CA() bool { return v.roots != nil }

// Presented is the fingerprint of the certificate the last handshake presented.
func (v *Verifier) Presented() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.presented
}

// Err is why the last handshake's certificate was refused (*ChangedError, *UntrustedError),
// nil when it was accepted. A dialer's own error wraps it in ways that differ by library;
// this is the cause to report.
func (v *Verifier) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}
