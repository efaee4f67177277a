package poly

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/polysim"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// TestSelfSignedCertificateIsMadeOnceAndKept: without a configured certificate the service makes
// one in the state dir, keeps it across restarts (endpoints may trust its fingerprint), reports
// its fingerprint offline for `otj-edge endpoints`, and endpoints that trust it can poll.
func TestSelfSignedCertificateIsMadeOnceAndKept(t *testing.T) {
	f := newFixture(t)
	f.opts.CertFile, f.opts.KeyFile = "", ""
	_, err := CertFingerprint("", f.opts.StateDir)
	require.ErrorContains(t, err, "no calendar service certificate yet")

	svc := f.start()
	fp := svc.Fingerprint()
	assert.Regexp(t, regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`), fp)
	offline, err := CertFingerprint("", f.opts.StateDir)
	require.NoError(t, err)
	assert.Equal(t, fp, offline)
	fi, err := os.Stat(filepath.Join(f.opts.StateDir, SelfSignedKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key is private")

	again, err := NewService(f.opts)
	require.NoError(t, err)
	assert.Equal(t, fp, again.Fingerprint(), "kept across restarts")

	der, err := os.ReadFile(filepath.Join(f.opts.StateDir, SelfSignedCertFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(der))
	fl, err := polysim.Start(t.Context(), polysim.Options{Now: f.clk.Now, Endpoints: []polysim.EndpointOptions{{Name: "poly-a", Room: roomA,
		EWSURL: "https://localhost:" + portOf(svc.Addr()) + "/EWS/Exchange.asmx", Username: userA, Password: passA, RootCAs: pool}}})
	require.NoError(t, err)
	defer fl.Close()
	require.NoError(t, fl.Endpoint("poly-a").PollNow(t.Context()))
	assert.Len(t, fl.Endpoint("poly-a").Meetings(), 4)

	// Half a pair is an error that says what to do, and nothing is overwritten.
	require.NoError(t, os.Remove(filepath.Join(f.opts.StateDir, SelfSignedKeyFile)))
	_, err = NewService(f.opts)
	require.ErrorContains(t, err, "delete both")
	_, err = os.Stat(filepath.Join(f.opts.StateDir, SelfSignedCertFile))
	require.NoError(t, err)
}

func portOf(addr string) string {
	return addr[len(addr)-len(regexp.MustCompile(`\d+$`).FindString(addr)):]
}

// TestConfiguredCertificateIsReloaded: a renewed certificate file is picked up without a
// restart; a broken renewal keeps the previous certificate.
func TestConfiguredCertificateIsReloaded(t *testing.T) {
	f := newFixture(t)
	svc := f.start()
	old := svc.Fingerprint()
	expected, err := CertFingerprint(f.opts.CertFile, "")
	require.NoError(t, err)
	assert.Equal(t, old, expected)

	renewed, err := f.ca.Issue("127.0.0.1", "localhost")
	require.NoError(t, err)
	require.NoError(t, simtls.WritePair(renewed, f.opts.CertFile, f.opts.KeyFile))
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(f.opts.CertFile, future, future))
	f.clk.Advance(reloadCheck)
	conn, err := tls.Dial("tcp", svc.Addr(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
	require.NoError(t, err)
	conn.Close()
	assert.NotEqual(t, old, svc.Fingerprint())
	assert.Equal(t, fingerprintOf(&renewed), svc.Fingerprint())

	// A broken file: the service keeps serving the last good certificate.
	require.NoError(t, os.WriteFile(f.opts.CertFile, []byte("not a certificate"), 0o644))
	later := future.Add(time.Hour)
	require.NoError(t, os.Chtimes(f.opts.CertFile, later, later))
	f.clk.Advance(reloadCheck)
	conn, err = tls.Dial("tcp", svc.Addr(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
	require.NoError(t, err)
	conn.Close()
	assert.Equal(t, fingerprintOf(&renewed), svc.Fingerprint())
}

func TestCertificateInfoForCheck(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	info, err := CertificateInfo(f.opts.CertFile, f.opts.KeyFile, f.opts.StateDir, now)
	require.NoError(t, err)
	fp, _ := CertFingerprint(f.opts.CertFile, "")
	assert.Contains(t, info, "configured certificate for [localhost 127.0.0.1]")
	assert.Contains(t, info, fp)

	_, err = CertificateInfo(f.opts.CertFile, f.opts.KeyFile, "", now.AddDate(2, 0, -10))
	assert.ErrorContains(t, err, "expires within 30 days")
	_, err = CertificateInfo(f.opts.CertFile, f.opts.KeyFile, "", now.AddDate(3, 0, 0))
	assert.ErrorContains(t, err, "expired on")
	_, err = CertificateInfo(f.opts.CertFile, f.opts.CertFile, "", now)
	assert.Error(t, err, "a key that is not a key")

	info, err = CertificateInfo("", "", f.opts.StateDir, now)
	require.NoError(t, err)
	assert.Contains(t, info, "no certificate yet")
}
