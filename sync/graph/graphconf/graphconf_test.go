package graphconf

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTokenURL(t *testing.T) {
	tenant, host, err := ParseTokenURL("https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token")
	require.NoError(t, err)
	assert.Equal(t, "contoso.onmicrosoft.com", tenant)
	assert.Equal(t, "https://login.microsoftonline.us/", host)
	for in, want := range map[string]string{
		"http://login.microsoftonline.com/t/oauth2/v2.0/token":    "must be an https URL",
		"login.microsoftonline.com/t/oauth2/v2.0/token":           "must be an https URL",
		"https://login.microsoftonline.com/t/oauth2/token":        "is not a v2 token endpoint",
		"https://login.microsoftonline.com/oauth2/v2.0/token":     "is not a v2 token endpoint",
		"https://login.microsoftonline.com/t/oauth2/v2.0/token/x": "is not a v2 token endpoint",
	} {
		_, _, err := ParseTokenURL(in)
		assert.ErrorContains(t, err, want, in)
		assert.ErrorContains(t, err, "token_url", "the message names the key")
	}
}

func TestNormalizeGraphURL(t *testing.T) {
	for in, want := range map[string]string{
		"graph.microsoft.us":                "https://graph.microsoft.us/v1.0",
		"https://graph.microsoft.com":       "https://graph.microsoft.com/v1.0",
		"https://graph.microsoft.com/v1.0/": "https://graph.microsoft.com/v1.0",
		"https://127.0.0.1:8443/v1.0":       "https://127.0.0.1:8443/v1.0",
	} {
		got, err := NormalizeGraphURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"http://graph.microsoft.com", "https://graph.microsoft.com/beta", "https://"} {
		_, err := NormalizeGraphURL(in)
		assert.Error(t, err, in)
	}
}
