package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/otj-edge/otj-edge/store"
)

// Commands carries out the commands that arrive on otj/v1/<site>/cmd/<name>; the agent
// implements it. Each method returns a result that encodes as JSON, or an error whose message
// is sent back as is (so it must never carry a secret). ctx ends after Timing.CommandTimeout or
// when the agent stops.
type Commands interface {
	// Sync syncs one room's calendar now (room "" = every room); full forces a full resync
	// instead of a delta round.
	Sync(ctx context.Context, room string, full bool) (any, error)
	// Push pushes bookings to one endpoint now (endpoint "" = every endpoint).
	Push(ctx context.Context, endpoint string) (any, error)
	// Reload re-reads and validates the config file and swaps it in atomically; on error the
	// running config stays.
	Reload(ctx context.Context) (any, error)
	// RulesTest runs the meeting processing rules of a profile ("" = the only or default
	// profile) over a Graph event and returns the resolved meeting and why.
	RulesTest(ctx context.Context, event json.RawMessage, profile string) (any, error)
	// Status returns the agent's status (what the local status API shows).
	Status(ctx context.Context) (any, error)
}

// Command names (the last topic level).
const (
	CmdSync      = "sync"
	CmdPush      = "push"
	CmdReload    = "reload"
	CmdRulesTest = "rules-test"
	CmdStatus    = "status"
)

// commandArgs are the keys each command takes besides "id".
var commandArgs = map[string][]string{
	CmdSync:      {"room", "full"},
	CmdPush:      {"endpoint"},
	CmdReload:    nil,
	CmdRulesTest: {"event", "profile"},
	CmdStatus:    nil,
}

// maxRequestID bounds a request id (it is echoed back and remembered).
const maxRequestID = 128

type inbound struct {
	name    string
	payload []byte
	// answer, when set, is the result to send instead of running the command: admission
	// refused or coalesced it (admission.go). Such an inbound carries no payload.
	answer *Result
}

// onMessage runs on a paho goroutine for every message that arrives. It never blocks: a
// command passes admission (admission.go), then goes to the bounded queue the workers serve;
// one that is refused or coalesced, or finds the queue full, goes to the queue of commands
// answered without running.
func (t *Telemetry) onMessage(_ paho.Client, m paho.Message) {
	prefix := t.prefix + TopicCmd + "/"
	if !strings.HasPrefix(m.Topic(), prefix) {
		t.log.Debug("ignored a message outside the command topics", "topic", m.Topic())
		return
	}
	if m.Retained() {
		// A retained command would run again on every (re)connect.
		t.log.Warn("ignored a retained command: publish commands with retain=false (clear it with an empty retained message)", "topic", m.Topic())
		return
	}
	t.stats.commands.Add(1)
	name := strings.TrimPrefix(m.Topic(), prefix)
	if n := len(m.Payload()); n > MaxCommandBytes {
		// Refused before anything is copied or decoded; only the first bytes are looked at
		// for the id to answer.
		t.stats.tooLarge.Add(1)
		id := peekID(m.Payload())
		t.log.Warn("command refused: too large", "command", name, "id", id, "bytes", n, "max_bytes", MaxCommandBytes)
		t.answerLater(inbound{name: name, answer: &Result{ID: id, Command: name, Error: fmt.Sprintf(
			"refused: the command is %s; commands are limited to %s", sizeText(n), sizeText(MaxCommandBytes))}})
		return
	}
	in := inbound{name: name, payload: append([]byte(nil), m.Payload()...)}
	if answer, decided := t.admission(in); decided {
		if answer != nil {
			t.answerLater(inbound{name: name, answer: answer})
		}
		return
	}
	select {
	case t.commands <- in:
	default:
		t.stats.rejected.Add(1)
		t.answerLater(in)
	}
}

// admission checks a sync or push against the coalescing windows and the rate limits
// (admission.go). decided is false for a command that is to run; otherwise answer is the
// result to send now, or nil when the command waits for the result of the one it was
// coalesced with. Malformed commands pass: serve answers them with what is wrong.
func (t *Telemetry) admission(in inbound) (answer *Result, decided bool) {
	if in.name != CmdSync && in.name != CmdPush {
		return nil, false
	}
	req, err := parseRequest(in.name, in.payload)
	if err != nil {
		return nil, false
	}
	now := t.clock.Now()
	v := t.admit.admit(in.name, req, now)
	switch {
	case v == nil:
		return nil, false
	case v.coalescedWith != "":
		t.stats.coalesced.Add(1)
		t.log.Info("command coalesced", "command", in.name, "id", req.ID, "with", v.coalescedWith)
		switch {
		case v.waiting:
			return nil, true
		case v.result != nil:
			return coalesced(*v.result, req.ID, v.coalescedWith), true
		}
		// Too many waiting on that one already: say so without its result.
		b, _ := json.Marshal(map[string]any{"coalesced": true, "message": fmt.Sprintf(
			"request %s, accepted %s ago, covers this one; its result is on cmd-result under that id",
			v.coalescedWith, now.Sub(v.acceptedAt).Round(time.Second))}) // plain values always encode
		return &Result{ID: req.ID, Command: in.name, OK: true, Result: b, CoalescedWith: v.coalescedWith}, true
	}
	t.stats.rateLimited.Add(1)
	t.log.Warn("command refused: rate limited", "command", in.name, "id", req.ID, "retry_after", v.retryAfter)
	retry := v.retryAfter.UTC()
	return &Result{ID: req.ID, Command: in.name, RetryAfter: &retry, Error: fmt.Sprintf("rate limited: %s; retry after %s",
		v.limited, retry.Format(time.RFC3339))}, true
}

// coalesced is the answer to request id, coalesced with request leader whose result is r.
func coalesced(r Result, id, leader string) *Result {
	r.ID, r.CoalescedWith = id, leader
	return &r
}

// settle hands the result of a command admission accepted to the requests coalesced with it.
func (t *Telemetry) settle(ctx context.Context, r Result) {
	for _, id := range t.admit.settle(r.ID, r) {
		t.sendResult(ctx, t.encode(*coalesced(r, id, r.ID)))
	}
}

// answerLater hands a command to the worker that answers without running (never blocking).
func (t *Telemetry) answerLater(in inbound) {
	select {
	case t.rejects <- in:
	default:
		t.log.Warn("command dropped unanswered: too many commands waiting for an answer", "command", in.name)
	}
}

func (t *Telemetry) commandWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-t.commands:
			t.serve(ctx, in)
		}
	}
}

// rejectWorker answers the commands that found the queue full.
func (t *Telemetry) rejectWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-t.rejects:
			t.answerWithoutRunning(ctx, in)
		}
	}
}

// answerWithoutRunning answers a command admission refused or coalesced, or one that found
// the queue full.
func (t *Telemetry) answerWithoutRunning(ctx context.Context, in inbound) {
	if in.answer != nil {
		t.sendResult(ctx, t.encode(*in.answer))
		return
	}
	t.answerError(ctx, in, fmt.Sprintf("busy: %d commands are already waiting; try again later", commandQueueSize))
}

// answerQueuedOnShutdown answers the commands that will not run.
func (t *Telemetry) answerQueuedOnShutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), t.opts.Timing.ShutdownTimeout)
	defer cancel()
	for {
		select {
		case in := <-t.commands:
			t.answerError(ctx, in, "not run: the agent is stopping")
		case in := <-t.rejects:
			t.answerWithoutRunning(ctx, in)
		default:
			return
		}
	}
}

func (t *Telemetry) answerError(ctx context.Context, in inbound, msg string) {
	id, _ := requestID(in.payload)
	r := t.resultOf(id, in.name, nil, errors.New(msg))
	t.sendResult(ctx, t.encode(r))
	if id != "" {
		t.settle(ctx, r) // it was accepted but will not run: the ones coalesced with it neither
	}
}

// serve runs one command and publishes its result. A request id seen recently (QoS 1
// redelivery, or a retry by the sender) is not run again: its result is sent again.
func (t *Telemetry) serve(ctx context.Context, in inbound) {
	req, err := parseRequest(in.name, in.payload)
	if err != nil {
		t.log.Warn("malformed command", "command", in.name, "id", req.ID, "err", err)
		t.sendResult(ctx, t.encode(t.resultOf(req.ID, in.name, nil, err)))
		return
	}
	cached, seen := t.recent.begin(req.ID)
	if seen {
		if cached != nil {
			t.sendResult(ctx, cached)
			var r Result
			if json.Unmarshal(cached, &r) == nil {
				t.settle(ctx, r)
			}
		}
		return // still running: its result is on its way
	}
	t.log.Info("command", "command", in.name, "id", req.ID)
	cctx, cancel := context.WithTimeout(ctx, t.opts.Timing.CommandTimeout)
	out, err := t.call(cctx, in.name, req)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		err = fmt.Errorf("interrupted: the agent is stopping (%w)", err)
	case errors.Is(err, context.DeadlineExceeded) && cctx.Err() != nil:
		err = fmt.Errorf("timed out after %s", t.opts.Timing.CommandTimeout)
	}
	r := t.resultOf(req.ID, in.name, out, err)
	payload := t.encode(r)
	t.recent.finish(req.ID, payload)
	t.sendResult(ctx, payload)
	t.settle(ctx, r)
}

// call dispatches to Commands; a panic in a handler becomes an error result.
func (t *Telemetry) call(ctx context.Context, name string, req Request) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("command handler panicked", "command", name, "panic", r)
			out, err = nil, fmt.Errorf("internal error in the %s command", name)
		}
	}()
	c := t.opts.Commands
	if c == nil {
		if name == CmdStatus {
			return t.onlineStatus(ctx), nil
		}
		return nil, errors.New("commands are not available on this agent")
	}
	switch name {
	case CmdSync:
		return c.Sync(ctx, req.Room, req.Full)
	case CmdPush:
		return c.Push(ctx, req.Endpoint)
	case CmdReload:
		return c.Reload(ctx)
	case CmdRulesTest:
		return c.RulesTest(ctx, req.Event, req.Profile)
	case CmdStatus:
		return c.Status(ctx)
	}
	return nil, fmt.Errorf("unknown command %q", name)
}

// resultOf is the Result of a command that ran (or could not be read).
func (t *Telemetry) resultOf(id, name string, out any, err error) Result {
	r := Result{ID: id, Command: name, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	} else {
		b, merr := json.Marshal(out)
		if merr != nil {
			r.OK, r.Error = false, "the result could not be encoded: "+merr.Error()
		} else {
			r.Result = b // "null" when there is nothing to say
		}
	}
	return r
}

// encode fills in the site and the time and encodes a Result.
func (t *Telemetry) encode(r Result) []byte {
	r.Site, r.Time = t.opts.Site, t.clock.Now().UTC()
	payload, err := json.Marshal(r)
	if err != nil { // cannot happen: every field encodes
		payload = []byte(`{"id":"","command":"","ok":false,"error":"result encoding failed"}`)
	}
	return payload
}

// sendResult publishes a result now; when the link is down or the broker does not acknowledge
// it, the result goes to the outbox and follows later.
func (t *Telemetry) sendResult(ctx context.Context, payload []byte) {
	pctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil { // shutting down: do not hold the shutdown up for long
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(pctx, t.opts.Timing.ShutdownTimeout)
		defer cancel()
	}
	err := t.publishNow(pctx, TopicCmdResult, false, payload)
	if err == nil {
		return
	}
	werr := t.store.Write(pctx, func(tx *store.Tx) error {
		_, err := tx.Enqueue(store.Message{Topic: TopicCmdResult, Payload: payload})
		return err
	})
	if werr != nil {
		t.log.Warn("command result lost", "publish_err", err, "queue_err", werr)
	}
}

// requestID reads the id of a request that may be malformed otherwise.
func requestID(payload []byte) (string, map[string]json.RawMessage) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return "", nil
	}
	var id string
	if raw, ok := fields["id"]; ok && json.Unmarshal(raw, &id) == nil && len(id) <= maxRequestID {
		return id, fields
	}
	return "", fields
}

// parseRequest checks a request strictly: a JSON object with a non-empty string id and only
// the command's own arguments, each of the right type. The id is returned even when something
// else is wrong, so the error result can carry it.
func parseRequest(name string, payload []byte) (Request, error) {
	var req Request
	id, fields := requestID(payload)
	req.ID = id
	if fields == nil {
		return req, errors.New(`the request is not a JSON object (want {"id": "...", ...})`)
	}
	if raw, ok := fields["id"]; !ok {
		return req, errors.New(`the request has no "id"`)
	} else if id == "" {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return req, errors.New(`"id" must be a string`)
		}
		if len(s) > maxRequestID {
			return req, fmt.Errorf(`"id" is longer than %d characters`, maxRequestID)
		}
		return req, errors.New(`"id" is empty`)
	}
	allowed, known := commandArgs[name]
	if !known {
		return req, fmt.Errorf("unknown command %q (known: %s)", name, strings.Join(knownCommands(), ", "))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "id" {
			continue
		}
		if !contains(allowed, k) {
			return req, fmt.Errorf("unknown argument %q for %s (it takes: %s)", k, name, strings.Join(append([]string{"id"}, allowed...), ", "))
		}
		raw := fields[k]
		var err error
		switch k {
		case "room":
			err = decodeString(raw, &req.Room)
		case "endpoint":
			err = decodeString(raw, &req.Endpoint)
		case "profile":
			err = decodeString(raw, &req.Profile)
		case "full":
			if json.Unmarshal(raw, &req.Full) != nil {
				err = errors.New("must be true or false")
			}
		case "event":
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil || obj == nil {
				err = errors.New("must be a JSON object (a Microsoft Graph event)")
			}
			req.Event = raw
		}
		if err != nil {
			return req, fmt.Errorf("%q %v", k, err)
		}
	}
	if name == CmdRulesTest && len(req.Event) == 0 {
		return req, errors.New(`rules-test needs "event": a Microsoft Graph event as JSON`)
	}
	return req, nil
}

func decodeString(raw json.RawMessage, dst *string) error {
	if json.Unmarshal(raw, dst) != nil {
		return errors.New("must be a string")
	}
	return nil
}

func knownCommands() []string {
	out := make([]string, 0, len(commandArgs))
	for k := range commandArgs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// recentCommands remembers the last request ids and their results.
type recentCommands struct {
	mu    sync.Mutex
	byID  map[string]*recentCommand
	order []string
}

type recentCommand struct{ result []byte } // nil while running

const recentKeep = 256

// begin reports whether id was seen recently, with its result when it finished; otherwise it
// records id as running.
func (r *recentCommands) begin(id string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byID[id]; ok {
		return c.result, true
	}
	r.byID[id] = &recentCommand{}
	r.order = append(r.order, id)
	if len(r.order) > recentKeep {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	return nil, false
}

func (r *recentCommands) finish(id string, result []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.byID[id]; ok {
		c.result = result
	}
}
