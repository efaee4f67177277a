package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
)

func TestExplainConnectErrorNamesWhatToFix(t *testing.T) {
	m := config.MQTT{Broker: "ssl://site:hunter2@broker.example.com:8883", Username: "oslo-hq", CAFile: "/etc/otj-edge/mqtt-ca.pem",
		CertFile: "/etc/otj-edge/site.pem"}
	noCA := m
	noCA.CAFile = ""
	wrap := func(err error) error { return fmt.Errorf("%w : %w", packets.ErrorNetworkError, err) }
	cases := []struct {
		name      string
		m         config.MQTT
		err       error
		want      string
		permanent bool
	}{
		{"unknown CA with ca_file", m, wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}),
			"the broker's TLS certificate is not signed by the CA in mqtt.ca_file /etc/otj-edge/mqtt-ca.pem", true},
		{"unknown CA without ca_file", noCA, wrap(x509.UnknownAuthorityError{}),
			"not signed by a CA this system trusts", true},
		{"wrong host", m, wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "10.0.0.1"}),
			"not valid for this address", true},
		{"expired", m, wrap(x509.CertificateInvalidError{Reason: x509.Expired}), "the broker's TLS certificate is not valid", true},
		{"plain port", m, wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}),
			"does not speak TLS on this port", true},
		{"bad password", m, packets.ErrorRefusedBadUsernameOrPassword, `refused mqtt.username "oslo-hq" or its password`, true},
		{"not authorised", m, packets.ErrorRefusedNotAuthorised, `refused mqtt.username "oslo-hq" (not authorised)`, true},
		{"client id", m, packets.ErrorRefusedIDRejected, "rejected the client id (set mqtt.client_id)", true},
		{"client certificate", m, wrap(errors.New("remote error: tls: certificate required")),
			"refused the TLS handshake, usually the client certificate (mqtt.cert_file /etc/otj-edge/site.pem)", true},
		{"refused", m, wrap(syscall.ECONNREFUSED), "nothing accepts connections there (connection refused)", false},
		{"other", m, wrap(errors.New("i/o timeout")), "i/o timeout", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, permanent := ExplainConnectError(c.err, c.m)
			assert.Contains(t, msg, c.want)
			assert.Contains(t, msg, "cannot connect to ssl://broker.example.com:8883: ")
			assert.NotContains(t, msg, "hunter2", "credentials in the broker URL never show")
			assert.Equal(t, c.permanent, permanent)
		})
	}
}

func TestNewClientOptionsNeedsABroker(t *testing.T) {
	_, err := NewClientOptions(ClientSettings{})
	require.EqualError(t, err, "mqtt.broker is not set")
	_, err = NewClientOptions(ClientSettings{MQTT: config.MQTT{Broker: "broker.example.com"}})
	require.ErrorContains(t, err, "is not a URL such as ssl://broker:8883")
	tc, err := ClientTLS(config.MQTT{Broker: "tcp://127.0.0.1:1883"})
	require.NoError(t, err)
	assert.Nil(t, tc, "no TLS for a plain broker")
	tc, err = ClientTLS(config.MQTT{Broker: "mqtts://broker.example.com:8883"})
	require.NoError(t, err)
	require.NotNil(t, tc)
	assert.Nil(t, tc.RootCAs, "the system CAs without ca_file")
	assert.Equal(t, uint16(tls.VersionTLS12), tc.MinVersion)
}

func TestMetricsPutAgentFiguresBesideTelemetrysOwn(t *testing.T) {
	b, err := json.Marshal(Metrics{ID: "m1", Site: "oslo-hq", Outbox: OutboxMetrics{Depth: 3, Dropped: 7},
		Agent: map[string]any{"pushes": map[string]any{"ok": 5, "p95_ms": 120}, "site": "agent cannot override", "endpoints_up": 4}})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "oslo-hq", got["site"])
	assert.Equal(t, "m1", got["id"])
	assert.Equal(t, map[string]any{"ok": 5.0, "p95_ms": 120.0}, got["pushes"])
	assert.Equal(t, 4.0, got["endpoints_up"])
	assert.Equal(t, 7.0, got["outbox"].(map[string]any)["dropped"])
}
