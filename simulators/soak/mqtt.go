package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// listener is the central side: a persistent-session QoS 1 subscriber to every site's events,
// counting distinct event ids (QoS 1 is at least once: duplicates are expected and counted).
type listener struct {
	client paho.Client
	mu     sync.Mutex
	ids    map[string]int
	dups   int
	junk   int
	got    chan struct{} // signalled (not closed) on every new id
}

func listen(broker, clientID string) (*listener, error) {
	l := &listener{ids: map[string]int{}, got: make(chan struct{}, 1)}
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(false)
	opts.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("otj/v1/+/events", 1, l.message)
	})
	l.client = paho.NewClient(opts)
	if t := l.client.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("connect the soak's subscriber to %s: %v", broker, t.Error())
	}
	return l, nil
}

func (l *listener) message(_ paho.Client, m paho.Message) {
	var ev struct {
		ID string `json:"id"`
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := json.Unmarshal(m.Payload(), &ev); err != nil || ev.ID == "" {
		l.junk++
		return
	}
	l.ids[ev.ID]++
	if l.ids[ev.ID] > 1 {
		l.dups++
		return
	}
	select {
	case l.got <- struct{}{}:
	default:
	}
}

// count is how many distinct events arrived.
func (l *listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// missing lists the ids among want that never arrived.
func (l *listener) missing(want []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, id := range want {
		if l.ids[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (l *listener) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dups
}

func (l *listener) close() { l.client.Disconnect(250) }
