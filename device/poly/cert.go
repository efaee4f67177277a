package poly

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files of the self-signed certificate kept in the state dir when no certificate is configured.
const (
	SelfSignedCertFile = "ews-selfsigned.crt"
	SelfSignedKeyFile  = "ews-selfsigned.key"
)

// certSource serves the listener's certificate. A configured certificate is re-read when its
// file changes (an outside tool renews it), checked at most every reloadCheck; a renewal that
// fails to load keeps the old certificate and says so in the log.
type certSource struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	modTime   time.Time
	lastCheck time.Time
}

const reloadCheck = 30 * time.Second

// newCertSource loads the configured pair, or the self-signed one in stateDir (creating it the
// first time).
func newCertSource(certFile, keyFile, stateDir string, log *slog.Logger, now func() time.Time) (*certSource, error) {
	generated := certFile == ""
	if generated {
		if stateDir == "" {
			return nil, errors.New("ews: no certificate configured and no state dir to keep a self-signed one in")
		}
		certFile, keyFile = filepath.Join(stateDir, SelfSignedCertFile), filepath.Join(stateDir, SelfSignedKeyFile)
		if err := ensureSelfSigned(certFile, keyFile, log); err != nil {
			return nil, err
		}
	}
	c := &certSource{certFile: certFile, keyFile: keyFile, log: log, now: now}
	if err := c.load(); err != nil {
		if generated {
			return nil, fmt.Errorf("%w (this is the self-signed certificate otj-edge made; delete %s and %s to have a new one made, then give the endpoints its new fingerprint)", err, certFile, keyFile)
		}
		return nil, err
	}
	return c, nil
}

func (c *certSource) load() error {
	fi, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("ews certificate: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("ews certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("ews certificate %s: %w", c.certFile, err)
		}
	}
	c.mu.Lock()
	c.cert, c.modTime = &pair, fi.ModTime()
	c.mu.Unlock()
	return nil
}

// get returns the current certificate, reloading it when its file changed.
func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	now := c.now()
	check := now.Sub(c.lastCheck) >= reloadCheck
	if check {
		c.lastCheck = now
	}
	cert, mod := c.cert, c.modTime
	c.mu.Unlock()
	if check {
		if fi, err := os.Stat(c.certFile); err == nil && !fi.ModTime().Equal(mod) {
			if err := c.load(); err != nil {
				c.log.Warn("ews: the certificate file changed but cannot be loaded; still serving the previous one", "err", err)
			} else {
				c.mu.Lock()
				cert = c.cert
				c.mu.Unlock()
				c.log.Info("ews: certificate reloaded", "file", c.certFile, "sha256", fingerprintOf(cert))
			}
		}
	}
	return cert, nil
}

func (c *certSource) current() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert
}

// fingerprintOf is a certificate's SHA-256 as colon-separated upper-case hex, the form browsers,
// openssl and endpoint web pages show.
func fingerprintOf(cert *tls.Certificate) string {
	if cert == nil || len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// CertFingerprint is the SHA-256 fingerprint of the certificate the calendar service presents,
// read from disk without starting anything (for `otj-edge endpoints`): the configured certFile,
// or the self-signed certificate in stateDir. It fails when neither exists yet (the self-signed
// one is made the first time the agent runs with a Poly endpoint).
func CertFingerprint(certFile, stateDir string) (string, error) {
	if certFile == "" {
		certFile = filepath.Join(stateDir, SelfSignedCertFile)
	}
	data, err := os.ReadFile(certFile)
	if errors.Is(err, os.ErrNotExist) && certFile == filepath.Join(stateDir, SelfSignedCertFile) {
		return "", fmt.Errorf("no calendar service certificate yet: otj-edge makes a self-signed one in %s the first time it runs with a Poly endpoint", stateDir)
	}
	if err != nil {
		return "", fmt.Errorf("read ews certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	for block != nil && block.Type != "CERTIFICATE" {
		block, data = pem.Decode(data)
	}
	if block == nil {
		return "", fmt.Errorf("read ews certificate %s: no PEM certificate in it", certFile)
	}
	return fingerprintOf(&tls.Certificate{Certificate: [][]byte{block.Bytes}}), nil
}

// ensureSelfSigned makes the self-signed certificate once. An existing pair is never replaced:
// endpoints may trust it by fingerprint.
func ensureSelfSigned(certFile, keyFile string, log *slog.Logger) error {
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		return nil
	}
	if errC == nil || errK == nil {
		return fmt.Errorf("ews: only one of %s and %s exists; restore the other, or delete both to have a new self-signed certificate made", certFile, keyFile)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("ews: create state dir: %w", err)
	}
	// RSA, not ECDSA: older Poly firmware's TLS stack is the least likely to choke on it.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("ews: make key: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "otj-edge"
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"otj-edge calendar service"}},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		// Ten years: endpoints that trust it by fingerprint should not break while the box runs.
		NotAfter:    time.Now().AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{host, "localhost"},
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("ews: make certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("ews: encode key: %w", err)
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	log.Info("ews: made a self-signed certificate for the calendar service", "file", certFile,
		"sha256", fingerprintOf(&tls.Certificate{Certificate: [][]byte{der}}))
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
