package pin

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// device is a loopback HTTPS server presenting cert; swap changes it (a device reset).
type device struct {
	srv  *httptest.Server
	cert atomic.Pointer[tls.Certificate]
}

func (d *device) swap(c tls.Certificate) { d.cert.Store(&c) }

func newDevice(t *testing.T, cert tls.Certificate) *device {
	d := &device{}
	d.swap(cert)
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	// A TLS listener of its own: httptest's StartTLS would present its own certificate to a
	// client that sends no server name (an IP address).
	d.srv.Listener = tls.NewListener(d.srv.Listener, &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return d.cert.Load(), nil }})
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	d.srv.Start()
	t.Cleanup(d.srv.Close)
	return d
}

// get makes one request to the device with v checking its certificate.
func (d *device) get(v *Verifier) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: v.TLSConfig(), DisableKeepAlives: true}}
	resp, err := c.Get("https://" + d.srv.Listener.Addr().String())
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func selfSigned(t *testing.T) tls.Certificate {
	c, err := simtls.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	return c
}

// TestPinOnFirstUse: with no pin the first certificate is accepted and becomes the pin; a
// device that then presents another is refused with both fingerprints, until the new one is
// set as the pin (what `otj-edge endpoints trust` does through the store).
func TestPinOnFirstUse(t *testing.T) {
	first, second := selfSigned(t), selfSigned(t)
	d := newDevice(t, first)
	v := NewVerifier(For(nil, "", ""), "127.0.0.1")

	require.NoError(t, d.get(v))
	assert.Equal(t, simtls.Fingerprint(first), v.Pin(), "pinned on first use")
	assert.Equal(t, simtls.Fingerprint(first), v.Presented())

	d.swap(second)
	err := d.get(v)
	var ce *ChangedError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, simtls.Fingerprint(first), ce.Pinned)
	assert.Equal(t, simtls.Fingerprint(second), ce.Presented)
	assert.Equal(t, ce, v.Err())
	assert.Contains(t, ce.Error(), "(credentials not sent)")

	v.SetPin(Colon(simtls.Fingerprint(second)))
	require.NoError(t, d.get(v), "the accepted certificate is used at the next handshake")
	assert.NoError(t, v.Err())
}

// TestPolicyFor: a CA wins over a configured fingerprint, which wins over the stored pin.
func TestPolicyFor(t *testing.T) {
	cert := selfSigned(t)
	d := newDevice(t, cert)
	other := simtls.Fingerprint(selfSigned(t))

	// A configured fingerprint is checked even when the store holds another pin.
	v := NewVerifier(For(nil, Colon(simtls.Fingerprint(cert)), other), "127.0.0.1")
	require.NoError(t, d.get(v))
	v = NewVerifier(For(nil, other, simtls.Fingerprint(cert)), "127.0.0.1")
	var ce *ChangedError
	require.ErrorAs(t, d.get(v), &ce)

	// The stored pin, without a configured one.
	v = NewVerifier(For(nil, "", simtls.Fingerprint(cert)), "127.0.0.1")
	require.NoError(t, d.get(v))
}

// TestCAVerification: with ca_file the chain and the host name are verified (no pin), and a
// certificate the CA did not sign is refused as untrusted.
func TestCAVerification(t *testing.T) {
	ca, err := simtls.NewCA("test CA")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, ca.WriteFile(path))
	roots, err := LoadRoots(path)
	require.NoError(t, err)

	signed, err := ca.Issue("127.0.0.1")
	require.NoError(t, err)
	d := newDevice(t, signed)
	v := NewVerifier(For(roots, "ignored", "ignored"), "127.0.0.1")
	require.NoError(t, d.get(v))
	assert.True(t, v.CA())
	assert.Empty(t, v.Pin(), "nothing is pinned under a CA")
	v.SetPin("abcd")
	assert.Empty(t, v.Pin())

	wrongHost := NewVerifier(For(roots, "", ""), "codec.example.com")
	var ue *UntrustedError
	require.ErrorAs(t, d.get(wrongHost), &ue)

	unsigned := selfSigned(t)
	d.swap(unsigned)
	require.ErrorAs(t, d.get(v), &ue)
	assert.Equal(t, simtls.Fingerprint(unsigned), ue.Presented)
	assert.Contains(t, ue.Error(), "not trusted by ca_file")

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("junk"), 0o600))
	_, err = LoadRoots(notPEM)
	assert.ErrorContains(t, err, "holds no PEM certificate")
	_, err = LoadRoots(filepath.Join(t.TempDir(), "missing.pem"))
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

func TestFingerprintForms(t *testing.T) {
	fp := "abababababababababababababababababababababababababababababababab"
	assert.Equal(t, fp, Normalize(Colon(fp)))
	assert.Equal(t, fp, Normalize(" AB:"+Colon(fp)[3:]+" "))
	assert.Equal(t, "AB:AB:AB:AB:AB:AB:AB:AB…", Short(fp))
	assert.Contains(t, Fix("codec-1", false), "otj-edge endpoints trust codec-1")
	assert.Contains(t, Fix("codec-1", true), "update fingerprint")
}
