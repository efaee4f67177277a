package agent

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

func TestCheckConnectsToTheBroker(t *testing.T) {
	b := mosquitto.ForTest(t, mosquitto.Options{})
	// Other features' checks also run (and fail on the test config's unreachable codec); only
	// the mqtt line is this test's business.
	_, stdout, _ := runCLI(t, nil, "check", "--timeout", "10s", "--config", minimalConfig(t, "mqtt:\n  broker: "+b.URL()+"\n"))
	assert.Contains(t, stdout, "mqtt: ok, connected to "+b.URL()+" and subscribed to otj/v1/test/cmd/+\n")

	_, stdout, _ = runCLI(t, nil, "check", "--timeout", "10s", "--config", minimalConfig(t, ""))
	assert.Contains(t, stdout, "mqtt: not configured (no fleet telemetry)\n")
}

func TestCheckNamesAWrongBrokerCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := simtls.NewCA("broker CA")
	require.NoError(t, err)
	srv, err := ca.Issue("127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, simtls.WritePair(srv, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key")))
	b := mosquitto.ForTest(t, mosquitto.Options{TLS: &mosquitto.TLS{CertFile: filepath.Join(dir, "b.pem"), KeyFile: filepath.Join(dir, "b.key")}})
	other, err := simtls.NewCA("another CA")
	require.NoError(t, err)
	wrong := filepath.Join(dir, "wrong.pem")
	require.NoError(t, other.WriteFile(wrong))

	code, stdout, _ := runCLI(t, nil, "check", "--timeout", "10s", "--config",
		minimalConfig(t, "mqtt:\n  broker: "+b.TLSURL()+"\n  ca_file: "+wrong+"\n"))
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stdout, "mqtt: FAIL cannot connect to "+b.TLSURL()+": the broker's TLS certificate is not signed by the CA in mqtt.ca_file "+wrong)
}
