package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const reportBase = `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: long-enough-secret, token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
endpoints: [{name: c1, type: cisco, room: room-1@example.com, profile: default, address: 127.0.0.1, username: u, password: long-enough-password}]
`

func TestReportTimeDefaultsToSevenAndIsCheckedAtItsLine(t *testing.T) {
	parse := func(yaml string) (*Config, error) {
		return Parse(filepath.Join(t.TempDir(), "config.yaml"), []byte(yaml), Options{LookupEnv: func(string) (string, bool) { return "", false }})
	}
	c, err := parse(reportBase)
	require.NoError(t, err)
	assert.True(t, c.Report.Enabled())
	assert.Equal(t, 7*time.Hour, c.Report.At())

	c, err = parse(reportBase + "report:\n  time: \"18:45\"\n")
	require.NoError(t, err)
	assert.Equal(t, 18*time.Hour+45*time.Minute, c.Report.At())

	c, err = parse(reportBase + "report:\n  time: \"off\"\n")
	require.NoError(t, err)
	assert.False(t, c.Report.Enabled())

	_, err = parse(reportBase + "report:\n  time: 7am\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config.yaml:6: report.time "7am" is not a time of day such as "07:00"`)
}
