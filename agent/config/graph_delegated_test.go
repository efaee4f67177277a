package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphAuthDelegated(t *testing.T) {
	at := Options{Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }}
	dir := t.TempDir()
	graphOf := func(cfg *Config) *Graph { return cfg.Integrations[0].Graph() }

	// A public client: no secret needed; app-only stays the default.
	cfg, err := LoadWith(certConfig(t, dir, "auth: delegated"), at)
	require.NoError(t, err)
	g := graphOf(cfg)
	require.True(t, g.Delegated())
	require.Empty(t, g.ClientSecret.Value())
	require.Equal(t, cfg.StateDir, g.StateDir, "the token vault's directory")
	cfg, err = LoadWith(certConfig(t, dir, "client_secret: s3cret-value"), at)
	require.NoError(t, err)
	require.Equal(t, GraphAuthAppOnly, graphOf(cfg).Auth)

	// A confidential client keeps its secret; scopes are read as given.
	cfg, err = LoadWith(certConfig(t, dir, "auth: delegated", "client_secret: s3cret-value", "scopes: [Calendars.Read.Shared, offline_access, Place.Read.All]"), at)
	require.NoError(t, err)
	g = graphOf(cfg)
	require.Equal(t, "s3cret-value", g.ClientSecret.Value())
	require.Equal(t, []string{"Calendars.Read.Shared", "offline_access", "Place.Read.All"}, g.Scopes)

	for _, tc := range []struct {
		name  string
		lines []string
		line  int
		says  string
	}{
		{"an unknown mode", []string{"auth: user"}, 5, `auth "user" is not app-only or delegated`},
		{"scopes for app-only", []string{"client_secret: s3cret-value", "scopes: [Calendars.Read]"}, 6, "scopes are for auth: delegated"},
		{"a .default scope", []string{"auth: delegated", "scopes: [https://graph.microsoft.com/.default, Calendars.Read.Shared]"}, 6, "is for app-only tokens"},
		{"a certificate", []string{"auth: delegated", "client_certificate_file: x.pem"}, 6, "auth: delegated takes no client_certificate_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWith(certConfig(t, dir, tc.lines...), at)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1, err.Error())
			assert.Equal(t, tc.line, ce.Problems[0].Line, err.Error())
			assert.Contains(t, ce.Problems[0].Msg, tc.says)
		})
	}
	t.Run("scopes without a calendar permission warn", func(t *testing.T) {
		cfg, err := LoadWith(certConfig(t, dir, "auth: delegated", "scopes: [offline_access]"), at)
		require.NoError(t, err)
		require.Len(t, cfg.Warnings, 1)
		assert.Contains(t, cfg.Warnings[0].Msg, "Calendars.Read.Shared")
	})
}
