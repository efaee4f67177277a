package sim

import (
	"context"
	"fmt"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func init() {
	Register(Part{Name: "mqtt", Order: 0, Start: startMQTT})
}

// startMQTT gives the site a broker: an embedded mochi broker on a free loopback port, an
// existing one at HOST:PORT, or none.
func startMQTT(_ context.Context, env *Env) error {
	switch env.Opts.MQTT {
	case "off":
		return nil
	case "embedded":
		addr, stop, err := StartEmbeddedBroker(env)
		if err != nil {
			return err
		}
		env.OnClose(stop)
		env.File.MQTT = &MQTTInfo{URL: "tcp://" + addr}
	default:
		if _, _, err := net.SplitHostPort(env.Opts.MQTT); err != nil {
			return fmt.Errorf("--mqtt %q: want embedded, off or HOST:PORT", env.Opts.MQTT)
		}
		env.File.MQTT = &MQTTInfo{URL: "tcp://" + env.Opts.MQTT}
	}
	env.Agent.MQTT = &AgentMQTT{Broker: env.File.MQTT.URL}
	return nil
}

// StartEmbeddedBroker runs a mochi MQTT broker (v3.1.1 and v5, retained messages, wills) on a
// free loopback port, open to any client. It returns the address and a stop function.
func StartEmbeddedBroker(env *Env) (string, func(), error) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: env.Log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return "", nil, fmt.Errorf("mqtt broker: %w", err)
	}
	l, err := Listen()
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return "", nil, fmt.Errorf("mqtt broker listen %s: %w", addr, err)
	}
	go func() {
		if err := srv.Serve(); err != nil {
			env.Log.Error("mqtt broker stopped", "err", err)
		}
	}()
	return addr, func() { _ = srv.Close() }, nil
}
