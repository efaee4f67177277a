package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// OutboxLimits cap the telemetry outbox. Past either cap the oldest messages are dropped and
// counted in "outbox_dropped". A zero MaxMessages turns queueing off (no broker configured).
type OutboxLimits struct {
	MaxMessages int
	MaxBytes    int64
}

// Message is one queued MQTT message.
type Message struct {
	Seq      int64
	ID       string // unique; consumers deduplicate on it
	Topic    string // below otj/v1/<site>/
	Payload  []byte
	Retained bool
	Created  time.Time
	Attempts int
}

// OutboxStats describe the queue.
type OutboxStats struct {
	Depth   int64 // messages waiting
	Bytes   int64 // their payload bytes
	Dropped int64 // dropped over the caps since the store was created
}

// KeyOutboxDropped counts messages dropped over the outbox caps.
const KeyOutboxDropped = "outbox_dropped"

type outboxState struct {
	limits OutboxLimits
	rows   int64
	bytes  int64
}

type outboxDelta struct{ rows, bytes int64 }

func (o *outboxState) apply(d outboxDelta) { o.rows += d.rows; o.bytes += d.bytes }

func (d *outboxDelta) add(e outboxDelta) { d.rows += e.rows; d.bytes += e.bytes }

func (s *Store) loadOutboxState(ctx context.Context) error {
	var rows, bytes int64
	if err := s.queryRow(ctx, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox").Scan(&rows, &bytes); err != nil {
		return fmt.Errorf("read outbox size: %w", err)
	}
	s.outboxMu.Lock()
	s.outbox.rows, s.outbox.bytes = rows, bytes
	s.outboxMu.Unlock()
	return nil
}

// SetOutboxLimits changes the caps (config reload); they apply from the next message.
func (s *Store) SetOutboxLimits(l OutboxLimits) {
	s.outboxMu.Lock()
	s.outbox.limits = l
	s.outboxMu.Unlock()
}

// NewMessageID makes a random 128-bit id.
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// Enqueue queues a message in this transaction, so it is sent if and only if the state change
// that caused it commits. It returns false when queueing is off.
func (t *Tx) Enqueue(m Message) (bool, error) {
	t.s.outboxMu.Lock()
	limits, rows, bytes := t.s.outbox.limits, t.s.outbox.rows, t.s.outbox.bytes
	t.s.outboxMu.Unlock()
	if limits.MaxMessages <= 0 {
		return false, nil
	}
	if m.ID == "" {
		m.ID = NewMessageID()
	}
	if _, err := t.exec("INSERT INTO outbox(msg_id, topic, payload, retained, created) VALUES (?,?,?,?,?)",
		m.ID, m.Topic, m.Payload, m.Retained, ms(t.now)); err != nil {
		return false, fmt.Errorf("queue message on %s: %w", m.Topic, err)
	}
	t.outbox.rows++
	t.outbox.bytes += int64(len(m.Payload))
	rows += t.pending.rows + t.outbox.rows
	bytes += t.pending.bytes + t.outbox.bytes
	if rows > int64(limits.MaxMessages) || (limits.MaxBytes > 0 && bytes > limits.MaxBytes) {
		if err := t.dropOldest(rows, bytes, limits); err != nil {
			return false, err
		}
	}
	t.Changed(TopicOutbox, "")
	return true, nil
}

// dropOldest deletes the oldest messages until the queue fits its caps again.
func (t *Tx) dropOldest(rows, bytes int64, limits OutboxLimits) error {
	var dropped int64
	for rows > int64(limits.MaxMessages) || (limits.MaxBytes > 0 && bytes > limits.MaxBytes) {
		excess := rows - int64(limits.MaxMessages)
		batch := max(excess, 1)
		res, err := t.query("SELECT seq, length(payload) FROM outbox ORDER BY seq LIMIT ?", batch)
		if err != nil {
			return fmt.Errorf("drop oldest messages: %w", err)
		}
		var last, n, b int64
		for res.Next() {
			var seq, size int64
			if err := res.Scan(&seq, &size); err != nil {
				res.Close()
				return fmt.Errorf("drop oldest messages: %w", err)
			}
			last, n, b = seq, n+1, b+size
		}
		res.Close()
		if n == 0 {
			break
		}
		if _, err := t.exec("DELETE FROM outbox WHERE seq <= ?", last); err != nil {
			return fmt.Errorf("drop oldest messages: %w", err)
		}
		rows, bytes, dropped = rows-n, bytes-b, dropped+n
		t.outbox.rows -= n
		t.outbox.bytes -= b
	}
	if dropped > 0 {
		if _, err := t.Add(KeyOutboxDropped, dropped); err != nil {
			return err
		}
	}
	return nil
}

// PeekOutbox returns up to n of the oldest queued messages, in order, without removing them.
func (s *Store) PeekOutbox(ctx context.Context, n int) ([]Message, error) {
	rows, err := s.query(ctx, "SELECT seq, msg_id, topic, payload, retained, created, attempts FROM outbox ORDER BY seq LIMIT ?", n)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var created int64
		if err := rows.Scan(&m.Seq, &m.ID, &m.Topic, &m.Payload, &m.Retained, &created, &m.Attempts); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		m.Created = fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AckOutbox removes delivered messages (after the broker's PUBACK).
func (s *Store) AckOutbox(ctx context.Context, seqs ...int64) error {
	if len(seqs) == 0 {
		return nil
	}
	return s.Write(ctx, func(t *Tx) error {
		args := make([]any, len(seqs))
		for i, v := range seqs {
			args[i] = v
		}
		q := "DELETE FROM outbox WHERE seq IN (?" + strings.Repeat(",?", len(seqs)-1) + ") RETURNING length(payload)"
		rows, err := t.tx.QueryContext(t.ctx, q, args...) // one text per batch size: not cached
		if err != nil {
			return fmt.Errorf("ack outbox: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var size int64
			if err := rows.Scan(&size); err != nil {
				return fmt.Errorf("ack outbox: %w", err)
			}
			t.outbox.rows--
			t.outbox.bytes -= size
		}
		return rows.Err()
	})
}

// MarkAttempt counts a delivery attempt (for messages retried across reconnects).
func (s *Store) MarkAttempt(ctx context.Context, seqs ...int64) error {
	return s.Write(ctx, func(t *Tx) error {
		for _, seq := range seqs {
			if _, err := t.exec("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", seq); err != nil {
				return fmt.Errorf("mark attempt: %w", err)
			}
		}
		return nil
	})
}

// OutboxStats reports the queue's depth, size and drops.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	s.outboxMu.Lock()
	st := OutboxStats{Depth: s.outbox.rows, Bytes: s.outbox.bytes}
	s.outboxMu.Unlock()
	if s.w == nil { // read-only: no in-memory tally
		if err := s.queryRow(ctx, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox").Scan(&st.Depth, &st.Bytes); err != nil {
			return st, fmt.Errorf("outbox stats: %w", err)
		}
	}
	d, err := s.Counter(ctx, KeyOutboxDropped)
	st.Dropped = d
	return st, err
}

// Event is something that happened, for the status page's recent events and the MQTT events
// topic.
type Event struct {
	Kind     string         `json:"kind"`  // e.g. sync.error, endpoint.down, push.ok, meeting.joined
	Level    string         `json:"level"` // info, warn, error
	Room     string         `json:"room,omitempty"`
	Endpoint string         `json:"endpoint,omitempty"`
	Message  string         `json:"message"`
	Data     map[string]any `json:"data,omitempty"`
}

// eventLogKeep is how many recent events the status page keeps.
const eventLogKeep = 1000

// Emit records events in the recent-events log and queues them for MQTT (topic "events"), in
// this transaction.
func (t *Tx) Emit(evs ...Event) error {
	for _, e := range evs {
		if err := t.emit(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) emit(e Event) error {
	if e.Level == "" {
		e.Level = "info"
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("emit %s: %w", e.Kind, err)
	}
	res, err := t.exec("INSERT INTO event_log(at, level, kind, room, endpoint, message, data) VALUES (?,?,?,?,?,?,?)",
		ms(t.now), e.Level, e.Kind, e.Room, e.Endpoint, e.Message, string(data))
	if err != nil {
		return fmt.Errorf("emit %s: %w", e.Kind, err)
	}
	if seq, err := res.LastInsertId(); err == nil && seq%100 == 0 {
		if _, err := t.exec("DELETE FROM event_log WHERE seq <= ?", seq-eventLogKeep); err != nil {
			return fmt.Errorf("trim event log: %w", err)
		}
	}
	id := NewMessageID()
	payload, err := json.Marshal(struct {
		ID   string `json:"id"`
		Time string `json:"time"`
		Event
	}{id, t.now.UTC().Format(time.RFC3339Nano), e})
	if err != nil {
		return fmt.Errorf("emit %s: %w", e.Kind, err)
	}
	_, err = t.Enqueue(Message{ID: id, Topic: "events", Payload: payload})
	return err
}

// LoggedEvent is an entry of the recent-events log.
type LoggedEvent struct {
	Seq int64
	At  time.Time
	Event
}

// RecentEvents returns up to n of the newest events, newest first.
func (s *Store) RecentEvents(ctx context.Context, n int) ([]LoggedEvent, error) {
	return s.EventLog(ctx, EventFilter{Limit: n})
}
