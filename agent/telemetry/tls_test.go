package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/simulators/mosquitto"
	"github.com/otj-edge/otj-edge/simulators/simtls"
)

// pki is a test CA with a broker certificate for 127.0.0.1 and a site's client certificate.
type pki struct {
	dir                          string
	ca                           *simtls.CA
	caFile, certFile, keyFile    string
	clientCertFile, clientKeyFit string
}

func newPKI(t *testing.T, clientCN string) pki {
	t.Helper()
	p := pki{dir: t.TempDir()}
	var err error
	p.ca, err = simtls.NewCA("otj test broker CA")
	require.NoError(t, err)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, p.ca.WriteFile(p.caFile))
	srv, err := p.ca.Issue("127.0.0.1")
	require.NoError(t, err)
	p.certFile, p.keyFile = filepath.Join(p.dir, "broker.pem"), filepath.Join(p.dir, "broker.key")
	require.NoError(t, simtls.WritePair(srv, p.certFile, p.keyFile))
	cl, err := p.ca.IssueClient(clientCN)
	require.NoError(t, err)
	p.clientCertFile, p.clientKeyFit = filepath.Join(p.dir, "site.pem"), filepath.Join(p.dir, "site.key")
	require.NoError(t, simtls.WritePair(cl, p.clientCertFile, p.clientKeyFit))
	return p
}

func TestTLSWithTheTestCA(t *testing.T) {
	p := newPKI(t, "oslo-hq")
	b := startBroker(t, mosquitto.Options{TLS: &mosquitto.TLS{CertFile: p.certFile, KeyFile: p.keyFile}})
	w := watch(t, b.URL(), SiteTopic("oslo-hq", TopicStatus))
	cfg := mqttConfig(b.TLSURL())
	cfg.CAFile = p.caFile
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: cfg})
	w.anyStatus("oslo-hq", StateOnline)
	assert.True(t, tel.Connected())
	assert.Equal(t, health.OK, mqttHealth(tel.health).Level)
}

func TestWrongCAFailsWithAClearMessageInHealthAndLogs(t *testing.T) {
	p := newPKI(t, "oslo-hq")
	b := startBroker(t, mosquitto.Options{TLS: &mosquitto.TLS{CertFile: p.certFile, KeyFile: p.keyFile}})
	other, err := simtls.NewCA("some other CA")
	require.NoError(t, err)
	wrong := filepath.Join(t.TempDir(), "wrong-ca.pem")
	require.NoError(t, other.WriteFile(wrong))

	cfg := mqttConfig(b.TLSURL())
	cfg.CAFile = wrong
	tel := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: cfg})
	var it health.Item
	require.Eventually(t, func() bool {
		it = mqttHealth(tel.health)
		return it.Level == health.Error
	}, wait, 5*time.Millisecond)
	want := "cannot connect to " + b.TLSURL() + ": the broker's TLS certificate is not signed by the CA in mqtt.ca_file " + wrong
	assert.Contains(t, it.Message, want)
	assert.Contains(t, it.Message, "set mqtt.ca_file to the CA that issued the broker's certificate")
	require.Eventually(t, func() bool { return strings.Contains(tel.logs.String(), want) }, wait, 5*time.Millisecond)
	assert.Contains(t, tel.logs.String(), "level=ERROR")
	assert.False(t, tel.Connected())
}

func TestUnreadableTLSFilesStopRunWithTheirName(t *testing.T) {
	s := openStore(t, "", 1000)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, c := range []struct {
		cfg  func(*config.MQTT)
		want string
	}{
		{func(m *config.MQTT) { m.CAFile = notPEM }, "mqtt.ca_file " + notPEM + " holds no PEM certificate"},
		{func(m *config.MQTT) { m.CAFile = notPEM + ".missing" }, "mqtt.ca_file: open " + notPEM + ".missing"},
		{func(m *config.MQTT) { m.CertFile, m.KeyFile = notPEM, notPEM }, "mqtt.cert_file " + notPEM},
	} {
		cfg := mqttConfig("ssl://127.0.0.1:1")
		c.cfg(&cfg)
		tr := health.New(nil)
		tel, err := New(Options{Site: "oslo-hq", Store: s, MQTT: cfg, Health: tr})
		require.NoError(t, err)
		err = tel.Run(t.Context())
		require.ErrorContains(t, err, c.want)
		assert.Equal(t, health.Error, tr.Overall())
	}
}

// TestClientCertificatePasswordAndTheDocumentedACL runs a site against mosquitto the way the
// README tells a central team to set it up: TLS with a client certificate, a username and
// password per site, and the ACL file from the README.
func TestClientCertificatePasswordAndTheDocumentedACL(t *testing.T) {
	acl, err := os.ReadFile("testdata/mosquitto.acl")
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), string(acl)), "the README shows testdata/mosquitto.acl as it is tested")

	p := newPKI(t, "oslo-hq")
	b := startBroker(t, mosquitto.Options{
		RequireMosquitto: true,
		TLS:              &mosquitto.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile},
		Users:            map[string]string{"oslo-hq": "site-secret-1", "bergen": "site-secret-2", "otj-central": "central-secret"},
		ACL:              string(acl),
	})
	central := func(c *paho.ClientOptions) { c.SetUsername("otj-central").SetPassword("central-secret") }
	w := watchWith(t, b.URL(), "central", true, central, "otj/v1/+/status", "otj/v1/+/events", "otj/v1/+/cmd-result")

	cfg := mqttConfig(b.TLSURL())
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = p.caFile, p.clientCertFile, p.clientKeyFit
	cfg.Username, cfg.Password = "oslo-hq", config.NewSecret("site-secret-1")
	s := openStore(t, "", 1000)
	tel := runTelemetry(t, Options{Store: s, MQTT: cfg, Commands: &siteCommands{}})
	w.anyStatus("oslo-hq", StateOnline)
	assert.Equal(t, health.OK, tel.health.Overall(), "the subscription to its commands was allowed")
	emit(t, s, 0, 1)
	order, _ := collectEvents(t, w, 1)
	assert.Equal(t, []int{0}, order)
	w.publish(SiteTopic("oslo-hq", "cmd/status"), `{"id":"acl-1"}`)
	assert.True(t, w.result("acl-1").OK)
	assert.NotContains(t, tel.logs.String(), "site-secret-1")

	// Another site's credentials cannot write into oslo-hq's topics.
	forger := watchWith(t, b.URL(), "forger", true, func(c *paho.ClientOptions) {
		c.SetUsername("bergen").SetPassword("site-secret-2")
	})
	tok := forger.c.Publish(SiteTopic("oslo-hq", TopicStatus), 1, true, `{"state":"offline","site":"oslo-hq","reason":"forged"}`)
	tok.WaitTimeout(wait) // mosquitto 2 may drop the connection of a client that writes outside its ACL
	late := watchWith(t, b.URL(), "central-late", true, central, SiteTopic("oslo-hq", TopicStatus))
	var retained Status
	late.next("oslo-hq's retained status", func(m paho.Message) bool {
		return json.Unmarshal(m.Payload(), &retained) == nil
	})
	assert.Equal(t, StateOnline, retained.State, "another site cannot write into oslo-hq's topics")
	assert.Empty(t, retained.Reason)

	// A site whose login the ACL does not cover is told where to look.
	wrongUser := cfg
	wrongUser.Username, wrongUser.Password = "bergen", config.NewSecret("site-secret-2")
	denied := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: wrongUser})
	require.Eventually(t, func() bool {
		return strings.Contains(mqttHealth(denied.health).Message, "check that its ACL lets this site publish under otj/v1/oslo-hq/#")
	}, wait, 5*time.Millisecond)
	denied.stop()

	// A wrong password: mosquitto 2 answers "not authorised" (other brokers "bad user name or
	// password"); either way the message names the setting.
	cfg.Password = config.NewSecret("wrong")
	bad := runTelemetry(t, Options{Store: openStore(t, "", 1000), MQTT: cfg})
	require.Eventually(t, func() bool { return bad.health.Overall() == health.Error }, wait, 5*time.Millisecond)
	assert.Contains(t, mqttHealth(bad.health).Message, `the broker refused mqtt.username "oslo-hq" (not authorised): check mqtt.username, mqtt.password`)
	assert.NotContains(t, bad.logs.String(), "site-secret")
}
