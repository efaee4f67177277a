package graphsim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// assertionType is the only client_assertion_type Entra accepts for certificate credentials.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock difference Entra tolerates on an assertion's nbf and exp.
const assertionSkew = 5 * time.Minute

// assertionError is Entra's refusal of a client assertion: its AADSTS code and description.
type assertionError struct {
	code int
	msg  string
}

// checkAssertion verifies a certificate credential's client assertion as Entra does
// (README "Calendar sync (Microsoft Graph)"): a JWT signed PS256 (MSAL) or RS256 (older
// clients) with the key of a certificate uploaded to the app, named by its x5t#S256 or x5t
// thumbprint; aud the token endpoint it was sent to; iss and sub the client id; now between nbf
// and exp (with some skew); the certificate itself not expired.
func checkAssertion(assertion, clientID, tokenURL string, certs []*x509.Certificate, now time.Time) *assertionError {
	malformed := &assertionError{50027, "JWT token is invalid or malformed."}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return malformed
	}
	var header struct {
		Alg       string `json:"alg"`
		X5t       string `json:"x5t"`
		X5tS256   string `json:"x5t#S256"`
		TokenType string `json:"typ"`
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Exp json.Number     `json:"exp"`
		Nbf json.Number     `json:"nbf"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return malformed
	}

	// The key: the uploaded certificate the thumbprint names.
	var cert *x509.Certificate
	thumb := header.X5tS256
	for _, c := range certs {
		s256, s1 := sha256.Sum256(c.Raw), sha1.Sum(c.Raw) // #nosec G401: x5t is SHA-1 by definition
		if (header.X5tS256 != "" && thumbEqual(header.X5tS256, s256[:])) || (header.X5tS256 == "" && header.X5t != "" && thumbEqual(header.X5t, s1[:])) {
			cert = c
			break
		}
	}
	if thumb == "" {
		thumb = header.X5t
	}
	if cert == nil {
		return &assertionError{700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key was not found., "+
			"Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured "+
			"keys for app Id '%s'.]", thumb, clientID)}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return &assertionError{700027, "Client assertion failed signature validation. [Reason - The key is not an RSA key.]"}
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch header.Alg {
	case "PS256":
		err1 = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err1 = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		return &assertionError{700027, fmt.Sprintf("Client assertion failed signature validation. [Reason - The algorithm '%s' is not supported.]", header.Alg)}
	}
	if err1 != nil {
		return &assertionError{700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"}
	}
	if now.After(cert.NotAfter) {
		return &assertionError{700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key used is expired., "+
			"Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']", thumb,
			cert.NotBefore.UTC().Format("01/02/2006 15:04:05"), cert.NotAfter.UTC().Format("01/02/2006 15:04:05"))}
	}

	if claims.Iss != clientID || claims.Sub != clientID {
		return &assertionError{700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at " +
			"https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials ."}
	}
	if !audienceIs(claims.Aud, tokenURL) {
		return &assertionError{50013, fmt.Sprintf("Assertion failed signature validation. [Reason - The audience of the assertion is not the token endpoint %s.]", tokenURL)}
	}
	exp, err1 := claims.Exp.Int64()
	nbf, err2 := claims.Nbf.Int64()
	if err1 != nil || err2 != nil {
		return malformed
	}
	if now.Before(time.Unix(nbf, 0).Add(-assertionSkew)) || now.After(time.Unix(exp, 0).Add(assertionSkew)) {
		return &assertionError{700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, "+
			"expiry time of assertion %s. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .",
			now.UTC().Format(time.RFC3339), time.Unix(nbf, 0).UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339))}
	}
	return nil
}

// thumbEqual compares a thumbprint header (base64, standard as MSAL writes it or URL-safe as
// RFC 7515 says) with a digest.
func thumbEqual(header string, digest []byte) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(header); err == nil {
			return string(b) == string(digest)
		}
	}
	return false
}

// audienceIs reports whether aud (a string or a list of them) names the token endpoint.
func audienceIs(aud json.RawMessage, tokenURL string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return strings.EqualFold(one, tokenURL)
	}
	var many []string
	if json.Unmarshal(aud, &many) == nil {
		for _, a := range many {
			if strings.EqualFold(a, tokenURL) {
				return true
			}
		}
	}
	return false
}
