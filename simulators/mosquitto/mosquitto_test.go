package mosquitto

import (
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/simulators/simtls"
)

const wait = 10 * time.Second

func connect(t *testing.T, url, id string, configure func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetProtocolVersion(4)
	if configure != nil {
		configure(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, assert.AnError
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

// retained subscribes to topic and returns the retained message's payload ("" when none comes
// before a marker message the test publishes after subscribing).
func retained(t *testing.T, c paho.Client, topic string) string {
	t.Helper()
	got := make(chan paho.Message, 10)
	require.True(t, c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- m }).WaitTimeout(wait))
	require.True(t, c.Subscribe(topic+"/marker", 1, func(_ paho.Client, m paho.Message) { got <- m }).WaitTimeout(wait))
	require.True(t, c.Publish(topic+"/marker", 1, false, "marker").WaitTimeout(wait))
	for {
		select {
		case m := <-got:
			if m.Topic() == topic && m.Retained() {
				return string(m.Payload())
			}
			if string(m.Payload()) == "marker" {
				return ""
			}
		case <-time.After(wait):
			t.Fatal("no message on " + topic)
		}
	}
}

func kinds(t *testing.T) []bool {
	if _, ok := Available(); ok {
		return []bool{false, true} // mosquitto, then the embedded fallback
	}
	return []bool{false}
}

func TestRetainedMessagesSurviveStopAndStartWithPersistence(t *testing.T) {
	for _, embedded := range kinds(t) {
		b := ForTest(t, Options{Persistence: true, Embedded: embedded})
		t.Run(b.Kind(), func(t *testing.T) {
			pub, err := connect(t, b.URL(), "pub", nil)
			require.NoError(t, err)
			require.True(t, pub.Publish("otj/v1/x/status", 1, true, "online").WaitTimeout(wait))
			// A persistent subscriber's queue survives too.
			sub, err := connect(t, b.URL(), "sub", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
			require.NoError(t, err)
			require.True(t, sub.Subscribe("otj/v1/x/events", 1, nil).WaitTimeout(wait))
			sub.Disconnect(50)

			require.NoError(t, b.Stop())
			assert.False(t, b.Running())
			_, err = connect(t, b.URL(), "while-down", nil)
			require.Error(t, err, "nothing listens while the broker is stopped")
			require.NoError(t, b.Start(t.Context()))

			c, err := connect(t, b.URL(), "after", nil)
			require.NoError(t, err)
			assert.Equal(t, "online", retained(t, c, "otj/v1/x/status"))
			require.True(t, c.Publish("otj/v1/x/events", 1, false, "queued").WaitTimeout(wait))

			got := make(chan string, 1)
			_, err = connect(t, b.URL(), "sub", func(o *paho.ClientOptions) {
				o.SetCleanSession(false).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
			})
			require.NoError(t, err)
			select {
			case m := <-got:
				assert.Equal(t, "queued", m)
			case <-time.After(wait):
				t.Fatal("the persistent session's queued message did not arrive")
			}
		})
	}
}

func TestWithoutPersistenceARestartedBrokerIsEmpty(t *testing.T) {
	b := ForTest(t, Options{})
	pub, err := connect(t, b.URL(), "pub", nil)
	require.NoError(t, err)
	require.True(t, pub.Publish("a/b", 1, true, "kept?").WaitTimeout(wait))
	require.NoError(t, b.Stop())
	require.NoError(t, b.Start(t.Context()))
	c, err := connect(t, b.URL(), "after", nil)
	require.NoError(t, err)
	assert.Empty(t, retained(t, c, "a/b"))
}

func TestTLSListenerWithClientCertificatesAndUsers(t *testing.T) {
	dir := t.TempDir()
	ca, err := simtls.NewCA("test broker CA")
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, ca.WriteFile(caFile))
	srv, err := ca.Issue("127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, simtls.WritePair(srv, filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key")))
	client, err := ca.IssueClient("oslo-hq")
	require.NoError(t, err)

	for _, embedded := range kinds(t) {
		b := ForTest(t, Options{Embedded: embedded, Users: map[string]string{"oslo-hq": "s3cret"}, TLS: &TLS{
			CertFile: filepath.Join(dir, "srv.pem"), KeyFile: filepath.Join(dir, "srv.key"), ClientCAFile: caFile,
		}})
		t.Run(b.Kind(), func(t *testing.T) {
			require.Regexp(t, `^ssl://127\.0\.0\.1:\d+$`, b.TLSURL())
			good := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}}
			_, err := connect(t, b.TLSURL(), "tls-ok", func(o *paho.ClientOptions) {
				o.SetTLSConfig(good).SetUsername("oslo-hq").SetPassword("s3cret")
			})
			require.NoError(t, err)

			_, err = connect(t, b.TLSURL(), "tls-badpw", func(o *paho.ClientOptions) {
				o.SetTLSConfig(good).SetUsername("oslo-hq").SetPassword("wrong")
			})
			require.Error(t, err)

			_, err = connect(t, b.TLSURL(), "tls-nocert", func(o *paho.ClientOptions) {
				o.SetTLSConfig(&tls.Config{RootCAs: ca.Pool()}).SetUsername("oslo-hq").SetPassword("s3cret")
			})
			require.Error(t, err, "a client certificate is required")

			_, err = connect(t, b.URL(), "anon", nil)
			require.Error(t, err, "anonymous clients are refused when users are set")
		})
	}
}

func TestACLFileNeedsMosquittoAndIsEnforced(t *testing.T) {
	b := ForTest(t, Options{RequireMosquitto: true, Users: map[string]string{"site-a": "a", "site-b": "b"},
		ACL: "pattern readwrite otj/v1/%u/#\n"})
	require.Equal(t, KindMosquitto, b.Kind())
	a, err := connect(t, b.URL(), "a", func(o *paho.ClientOptions) { o.SetUsername("site-a").SetPassword("a") })
	require.NoError(t, err)
	bc, err := connect(t, b.URL(), "b", func(o *paho.ClientOptions) { o.SetUsername("site-b").SetPassword("b") })
	require.NoError(t, err)
	require.True(t, a.Publish("otj/v1/site-a/status", 1, true, "a-online").WaitTimeout(wait))
	require.True(t, bc.Publish("otj/v1/site-a/status", 1, true, "b-forged").WaitTimeout(wait))
	assert.Equal(t, "a-online", retained(t, a, "otj/v1/site-a/status"), "site-b may not publish under site-a")
}
