package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCiscoConnectionModel(t *testing.T) {
	c, err := Parse("c.yaml", []byte(limitsHead), env(nil))
	require.NoError(t, err)
	assert.Equal(t, CiscoOnDemand, c.Cisco.Connection, "default")
	assert.Equal(t, 5*time.Minute, *c.Cisco.CheckInterval)

	c, err = Parse("c.yaml", []byte(limitsHead+"cisco: {connection: persistent, check_interval: 3m}\n"), env(nil))
	require.NoError(t, err)
	assert.Equal(t, CiscoPersistent, c.Cisco.Connection)
	assert.Equal(t, 3*time.Minute, *c.Cisco.CheckInterval)

	_, err = Parse("c.yaml", []byte(limitsHead+"cisco:\n  connection: always\n"), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cisco.connection "always": must be on_demand or persistent`)
	assert.Contains(t, err.Error(), "5", "the line")
	_, err = Parse("c.yaml", []byte(limitsHead+"cisco: {check_interval: 5s}\n"), env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cisco.check_interval 5s is outside 30s–30m")
	_, err = Parse("c.yaml", []byte(limitsHead+"cisco: {conection: persistent}\n"), env(nil))
	require.Error(t, err, "a misspelt key is refused")
}
