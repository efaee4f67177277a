package graphsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// signAssertion builds a client assertion the way MSAL does (PS256, x5t#S256 in standard
// base64), with changes applied to the header and claims first.
func signAssertion(t *testing.T, c simtls.AppCertificate, alg string, header, claims map[string]any) string {
	t.Helper()
	s256 := sha256.Sum256(c.Cert.Raw)
	h := map[string]any{"alg": alg, "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(s256[:])}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, err := json.Marshal(h)
	require.NoError(t, err)
	cb, err := json.Marshal(claims)
	require.NoError(t, err)
	signed := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	if alg == "RS256" {
		sig, err = rsa.SignPKCS1v15(rand.Reader, c.Key, crypto.SHA256, digest[:])
	} else {
		sig, err = rsa.SignPSS(rand.Reader, c.Key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	require.NoError(t, err)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestClientAssertionsAreCheckedAsEntraDoes(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	uploaded, err := simtls.NewAppCertificate("otj-edge site 1", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	other, err := simtls.NewAppCertificate("someone else", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0))
	require.NoError(t, err)
	expiredCert, err := simtls.NewAppCertificate("otj-edge old", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	require.NoError(t, err)
	const clientID = "11111111-2222-3333-4444-555555555555"
	const tokenURL = "https://127.0.0.1:8443/tenant/oauth2/v2.0/token"
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": "x",
			"nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix()}
		for k, v := range change {
			c[k] = v
		}
		return c
	}
	s1 := sha1.Sum(uploaded.Cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(s1[:])
	registered := []*x509.Certificate{uploaded.Cert, expiredCert.Cert}

	for _, tc := range []struct {
		name      string
		assertion string
		code      int
		says      string
	}{
		{"MSAL's form: PS256, x5t#S256", signAssertion(t, uploaded, "PS256", nil, claims(nil)), 0, ""},
		{"RS256 with an x5t (SHA-1)", signAssertion(t, uploaded, "RS256", map[string]any{"x5t#S256": nil, "x5t": x5t}, claims(nil)), 0, ""},
		{"the audience as a list", signAssertion(t, uploaded, "PS256", nil, claims(map[string]any{"aud": []string{tokenURL}})), 0, ""},
		{"a certificate not uploaded", signAssertion(t, other, "PS256", nil, claims(nil)), 700027, "The key was not found"},
		{"signed by another key", signAssertion(t, other, "PS256", map[string]any{"x5t#S256": func() string {
			s := sha256.Sum256(uploaded.Cert.Raw)
			return base64.StdEncoding.EncodeToString(s[:])
		}()}, claims(nil)), 700027, "did not match the expected signature"},
		{"an expired certificate", signAssertion(t, expiredCert, "PS256", nil, claims(nil)), 700027, "The key used is expired"},
		{"another app's id", signAssertion(t, uploaded, "PS256", nil, claims(map[string]any{"iss": "someone", "sub": "someone"})), 700021, "doesn't match 'client_id'"},
		{"another token endpoint", signAssertion(t, uploaded, "PS256", nil, claims(map[string]any{"aud": "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"})), 50013, "audience"},
		{"expired an hour ago", signAssertion(t, uploaded, "PS256", nil, claims(map[string]any{"nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})), 700024, "not within its valid time range"},
		{"from the future (a clock far ahead)", signAssertion(t, uploaded, "PS256", nil, claims(map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})), 700024, "not within its valid time range"},
		{"an unsupported algorithm", signAssertion(t, uploaded, "PS256", map[string]any{"alg": "HS256"}, claims(nil)), 700027, "'HS256' is not supported"},
		{"not a JWT", "not.a-jwt", 50027, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := checkAssertion(tc.assertion, clientID, tokenURL, registered, now)
			if tc.code == 0 {
				assert.Nil(t, e)
				return
			}
			require.NotNil(t, e)
			assert.Equal(t, tc.code, e.code)
			assert.Contains(t, e.msg, tc.says)
		})
	}
}
