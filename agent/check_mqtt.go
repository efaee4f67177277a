package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/telemetry"
)

func init() {
	registerCheck(onlineCheck{name: "mqtt", run: checkMQTT})
}

// checkMQTT connects to the broker with the site's settings, subscribes to its command topic
// (the ACL must allow it) and disconnects. It uses its own client id, so a running agent is not
// thrown off the broker, and a clean session, so nothing is left behind.
func checkMQTT(ctx context.Context, cfg *config.Config, w io.Writer) int {
	m := cfg.MQTT
	if !m.Enabled() {
		fmt.Fprintln(w, "mqtt: not configured (no fleet telemetry)")
		return 0
	}
	broker := telemetry.RedactBroker(m.Broker)
	o, err := telemetry.NewClientOptions(telemetry.ClientSettings{MQTT: m, ClientID: "otj-edge-check-" + cfg.Site + "-" + randomHex(3)})
	if err != nil {
		fmt.Fprintf(w, "mqtt: FAIL %v\n", err)
		return 1
	}
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	cli := paho.NewClient(o)
	tok := cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		cli.Disconnect(0)
		fmt.Fprintf(w, "mqtt: FAIL %s: no answer in time\n", broker)
		return 1
	}
	if err := tok.Error(); err != nil {
		msg, _ := telemetry.ExplainConnectError(err, m)
		fmt.Fprintf(w, "mqtt: FAIL %s\n", msg)
		return 1
	}
	defer cli.Disconnect(100)
	topic := telemetry.SiteTopic(cfg.Site, telemetry.TopicCmd+"/+")
	sub := cli.Subscribe(topic, 1, nil)
	select {
	case <-sub.Done():
	case <-ctx.Done():
		fmt.Fprintf(w, "mqtt: FAIL %s: no answer to the subscription in time\n", broker)
		return 1
	}
	if err := sub.Error(); err != nil {
		fmt.Fprintf(w, "mqtt: FAIL subscribe to %s: %v\n", topic, err)
		return 1
	}
	if st, ok := sub.(*paho.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code == 0x80 { // SUBACK failure
				fmt.Fprintf(w, "mqtt: FAIL connected to %s, but the broker refused the subscription to %s (check its ACL)\n", broker, topic)
				return 1
			}
		}
	}
	fmt.Fprintf(w, "mqtt: ok, connected to %s and subscribed to %s\n", broker, topic)
	return 0
}

// randomHex is n random bytes in hex, for a client id no other client uses.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
