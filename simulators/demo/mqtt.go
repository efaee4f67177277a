package main

import (
	"fmt"
	"os"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttCounter counts what the site publishes under otj/v1/<site>/, by kind, and which rooms
// have a retained state: a room's state is republished whenever it changes, so the number of
// room-state messages says nothing about the number of rooms.
type mqttCounter struct {
	mu     sync.Mutex
	byKind map[string]int64
	rooms  map[string]bool // rooms whose latest retained state is not empty
}

// mqttSnapshot is the counter at one moment.
type mqttSnapshot struct {
	byKind map[string]int64 // messages by topic kind: status, rooms, events, metrics, cmd, cmd-result
	rooms  int              // distinct rooms with a state
}

func newMQTTCounter() *mqttCounter {
	return &mqttCounter{byKind: map[string]int64{}, rooms: map[string]bool{}}
}

// watch subscribes to every site's topics on the broker at url until the returned stop is called.
func (c *mqttCounter) watch(url string) (stop func()) {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("otj-demo-%d", os.Getpid())).
		SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		cl.Subscribe("otj/v1/#", 0, func(_ paho.Client, m paho.Message) { c.record(m.Topic(), m.Payload()) })
	})
	cl := paho.NewClient(opts)
	cl.Connect()
	return func() { cl.Disconnect(100) }
}

// record counts one message. Topics are otj/v1/<site>/<kind>[/<rest>]; a room's state is
// otj/v1/<site>/rooms/<room>, and an empty retained message clears a removed room.
func (c *mqttCounter) record(topic string, payload []byte) {
	parts := strings.SplitN(topic, "/", 5)
	if len(parts) < 4 || parts[0] != "otj" || parts[1] != "v1" {
		return
	}
	kind := parts[3]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKind[kind]++
	if kind == "rooms" && len(parts) == 5 {
		room := parts[2] + "/" + parts[4] // rooms of different sites are different rooms
		if len(payload) == 0 {
			delete(c.rooms, room)
		} else {
			c.rooms[room] = true
		}
	}
}

func (c *mqttCounter) snapshot() *mqttSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &mqttSnapshot{byKind: make(map[string]int64, len(c.byKind)), rooms: len(c.rooms)}
	for k, n := range c.byKind {
		s.byKind[k] = n
	}
	return s
}

// kindNames says what each topic kind's messages are, in the order the summary lists them.
var kindNames = []struct{ kind, one, many string }{
	{"events", "event", "events"},
	{"metrics", "metrics snapshot", "metrics snapshots"},
	{"rooms", "room state", "room states"},
	{"status", "site status", "site statuses"},
	{"cmd", "command", "commands"},
	{"cmd-result", "command result", "command results"},
}

// describe says "57 messages: 12 events, 40 room states for 20 rooms, 5 site statuses".
func (s *mqttSnapshot) describe() string {
	var total int64
	for _, n := range s.byKind {
		total += n
	}
	if total == 0 {
		return "no messages yet"
	}
	known := map[string]bool{}
	var parts []string
	for _, k := range kindNames {
		known[k.kind] = true
		n := s.byKind[k.kind]
		if n == 0 {
			continue
		}
		p := plural(n, k.one, k.many)
		if k.kind == "rooms" {
			p += " for " + plural(s.rooms, "room", "rooms")
		}
		parts = append(parts, p)
	}
	var other int64
	for k, n := range s.byKind {
		if !known[k] {
			other += n
		}
	}
	if other > 0 {
		parts = append(parts, plural(other, "other", "others"))
	}
	return plural(total, "message", "messages") + ": " + strings.Join(parts, ", ")
}
