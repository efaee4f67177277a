package ews

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// The HTTP side of the client: TLS trust (system roots, a private CA file, or a pinned
// server certificate) and the transport each auth method needs.

// tlsConfig trusts the system roots plus caFile, or exactly the certificate pinned by pin
// (hex SHA-256 of its DER, colons allowed): on-prem Exchange often has a private CA, and a
// pin is what an admin can copy from the browser when there is no CA file to hand.
func tlsConfig(caFile, pin string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin != "" {
		want, err := parsePin(pin)
		if err != nil {
			return nil, err
		}
		// The pin replaces chain validation: the server's leaf certificate must be exactly
		// the pinned one (whoever signed it).
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(raw[0])
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("the server's certificate (SHA-256 %s) is not the pinned one (pin_sha256 %s): "+
					"if Exchange's certificate was renewed, pin the new one", hex.EncodeToString(got[:]), hex.EncodeToString(want))
			}
			return nil
		}
		return cfg, nil
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// parsePin reads a hex SHA-256 fingerprint, with or without colons.
func parsePin(pin string) ([]byte, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(pin)))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("pin_sha256 %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", pin)
	}
	return b, nil
}

// httpClient builds the client for an integration. NTLM authenticates a TCP connection, so
// HTTP/2 is off (TLSNextProto empty) and connections are kept per host.
func newHTTPClient(in Integration) (*http.Client, error) {
	cfg, err := tlsConfig(in.CAFile, in.PinSHA256)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     cfg,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 0}, nil
}

// authTransport wraps base with what the auth method needs: the NTLM negotiator converts the
// request's basic credentials to an NTLM handshake (never sending them as Basic); Basic sends
// them as they are (TLS only, checked by the client).
func authTransport(auth string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if auth == AuthBasic {
		return base
	}
	return ntlmssp.Negotiator{RoundTripper: base}
}
