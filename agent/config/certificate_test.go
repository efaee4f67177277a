package config

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// certConfig is a config whose integration has the given credential lines (line 5 on).
func certConfig(t *testing.T, dir string, credential ...string) string {
	t.Helper()
	path := filepath.Join(dir, "c.yaml")
	body := "site: s1\nintegrations:\n  - name: m365\n    type: graph\n"
	for _, l := range credential {
		body += "    " + l + "\n"
	}
	body += "    client_id: abc\n    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token\nprofiles:\n  - name: default\n"
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestClientCertificateFile(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := Options{Now: func() time.Time { return now }}
	good, err := simtls.NewAppCertificate("otj-edge site 1", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
		return name
	}

	t.Run("a PEM with the certificate and its key", func(t *testing.T) {
		cfg, err := LoadWith(certConfig(t, dir, "client_certificate_file: "+write("graph.pem", good.PEM())), at)
		require.NoError(t, err)
		in := cfg.Integrations[0].Graph()
		assert.True(t, in.UsesCertificate())
		assert.Equal(t, filepath.Join(dir, "graph.pem"), in.ClientCertificateFile, "relative to the config")
		require.Len(t, in.ClientCertificates, 1)
		assert.Equal(t, good.Cert.Raw, in.ClientCertificates[0].Raw)
		sum := sha1.Sum(good.Cert.Raw)
		assert.Equal(t, strings.ToUpper(hex.EncodeToString(sum[:])), in.CertificateThumbprint(), "as the app registration shows it")
		assert.Empty(t, cfg.Warnings)
		assert.False(t, in.ClientSecret.IsSet())
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			for _, v := range []any{cfg, in} {
				out := fmt.Sprintf(verb, v)
				assert.NotContains(t, out, good.Key.D.String(), "the private key never prints (%s)", verb)
				assert.NotContains(t, out, good.Key.Primes[0].String(), "the private key never prints (%s)", verb)
			}
		}
	})

	expiring, err := simtls.NewAppCertificate("otj-edge old", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10))
	require.NoError(t, err)
	expired, err := simtls.NewAppCertificate("otj-edge older", now.AddDate(-1, 0, 0), now.AddDate(0, 0, -1))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		file string
		warn string
	}{
		{"expires within 30 days", write("expiring.pem", expiring.PEM()), "expires on 2026-12-03; upload its successor"},
		{"expired", write("expired.pem", expired.PEM()), "expired on 2026-11-22; Entra will refuse it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadWith(certConfig(t, dir, "client_certificate_file: "+tc.file), at)
			require.NoError(t, err, "a warning: the agent still starts and reports the refusal")
			require.Len(t, cfg.Warnings, 1)
			assert.Equal(t, 5, cfg.Warnings[0].Line)
			assert.Contains(t, cfg.Warnings[0].Msg, tc.warn)
		})
	}

	ecdsa, err := simtls.SelfSigned("localhost")
	require.NoError(t, err)
	require.NoError(t, simtls.WritePair(ecdsa, filepath.Join(dir, "ec.crt"), filepath.Join(dir, "ec.key")))
	ecCert, _ := os.ReadFile(filepath.Join(dir, "ec.crt"))
	ecKey, _ := os.ReadFile(filepath.Join(dir, "ec.key"))
	other, err := simtls.NewAppCertificate("other", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	mismatched := append(good.CertPEM(), other.PEM()[len(other.CertPEM()):]...)
	for _, tc := range []struct {
		name       string
		credential []string
		line       int
		says       string
	}{
		{"a secret and a certificate", []string{"client_secret: s3cret-value", "client_certificate_file: " + write("both.pem", good.PEM())}, 6, "give client_secret or client_certificate_file, not both"},
		{"no credential", nil, 3, "client_secret (or client_secret_file, or client_certificate_file) is required"},
		{"a missing file", []string{"client_certificate_file: nowhere.pem"}, 5, "cannot read " + filepath.Join(dir, "nowhere.pem") + ": no such file"},
		{"the certificate without its key", []string{"client_certificate_file: " + write("cert-only.pem", good.CertPEM())}, 5, "cannot read the certificate and its private key"},
		{"an ECDSA key", []string{"client_certificate_file: " + write("ec.pem", append(ecCert, ecKey...))}, 5, "need an RSA key"},
		{"another certificate's key", []string{"client_certificate_file: " + write("mismatch.pem", mismatched)}, 5, "does not belong to the first certificate"},
		{"a password without a certificate", []string{"client_secret: s3cret-value", "client_certificate_password: pw"}, 6, "client_certificate_password needs client_certificate_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWith(certConfig(t, dir, tc.credential...), at)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1, err.Error())
			assert.Equal(t, tc.line, ce.Problems[0].Line, err.Error())
			assert.Contains(t, ce.Problems[0].Msg, tc.says)
			assert.NotContains(t, err.Error(), "s3cret-value")
		})
	}

	t.Run("readable by others", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("file modes do not apply on Windows")
		}
		name := write("open.pem", good.PEM())
		require.NoError(t, os.Chmod(filepath.Join(dir, name), 0o644))
		cfg, err := LoadWith(certConfig(t, dir, "client_certificate_file: "+name), at)
		require.NoError(t, err)
		require.Len(t, cfg.Warnings, 1)
		assert.Contains(t, cfg.Warnings[0].Msg, "holds a private key and is readable by group or others")
	})

	// .pfx files as Windows and openssl export them; the parser (golang.org/x/crypto/pkcs12,
	// under azidentity) reads only the legacy 3DES encryption.
	t.Run("pfx", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("openssl is required in CI (.ci/run installs it): %v", err)
			}
			t.Skip("openssl not installed")
		}
		write("pfx-cert.pem", good.CertPEM())
		write("pfx-key.pem", good.PEM()[len(good.CertPEM()):])
		export := func(out string, extra ...string) {
			args := append([]string{"pkcs12", "-export", "-in", "pfx-cert.pem", "-inkey", "pfx-key.pem", "-passout", "pass:pfx-pw-42", "-out", out}, extra...)
			cmd := exec.Command(openssl, args...)
			cmd.Dir = dir
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, string(b))
		}
		export("legacy.pfx", "-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1")
		export("modern.pfx") // OpenSSL 3's default: AES-256-CBC

		cfg, err := LoadWith(certConfig(t, dir, "client_certificate_file: legacy.pfx", "client_certificate_password: pfx-pw-42"), at)
		require.NoError(t, err)
		assert.Equal(t, good.Cert.Raw, cfg.Integrations[0].Graph().ClientCertificates[0].Raw)

		_, err = LoadWith(certConfig(t, dir, "client_certificate_file: legacy.pfx", "client_certificate_password: wrong-pw-17"), at)
		require.ErrorContains(t, err, "cannot read the certificate and its private key")
		assert.NotContains(t, err.Error(), "wrong-pw-17")

		_, err = LoadWith(certConfig(t, dir, "client_certificate_file: modern.pfx", "client_certificate_password: pfx-pw-42"), at)
		require.ErrorContains(t, err, "openssl pkcs12 -in")
		assert.NotContains(t, err.Error(), "pfx-pw-42")
	})
}
