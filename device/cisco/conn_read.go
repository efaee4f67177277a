package cisco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// The read side of a Conn: messages matched to requests, feedback queued, keep-alive. Two
// ways to read (issue 22): where the shared poller works (Linux, poll_linux.go), a connection
// has no goroutine of its own: the poller notices a readable socket and a short-lived
// goroutine reads what is there (drain); elsewhere a reader goroutine blocks in gorilla's
// reader for as long as the connection lasts (readLoop). Both hand every message to dispatch.

// maxFeedbackQueue bounds the notifications waiting; past it the oldest are dropped rather
// than stalling the answers.
const maxFeedbackQueue = 1024

// readLimit is the longest message accepted from a codec.
const readLimit = 8 << 20

// FeedbackReady signals (coalesced) that TakeFeedback has notifications.
func (c *Conn) FeedbackReady() <-chan struct{} { return c.fbReady }

// Notify sets fn to be called whenever feedback is queued and once when the connection has
// ended (Err is set then), so a caller can react without a goroutine waiting on FeedbackReady
// and Done. fn runs on the goroutine that read the message (or ended the connection) and
// must not block. It is called at once when either already happened.
func (c *Conn) Notify(fn func()) {
	c.mu.Lock()
	c.notify = fn
	now := c.err != nil || len(c.fbQueue) > 0
	c.mu.Unlock()
	if now && fn != nil {
		fn()
	}
}

func (c *Conn) notifyFn() func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notify
}

// Wait blocks until the connection has ended and nothing reads from it any more (after
// Close, or after the connection failed); no notice of it comes after Wait returns.
func (c *Conn) Wait() { <-c.exited }

// finish tells the end (Notify's fn) and releases Wait, once.
func (c *Conn) finish() {
	c.finishOnce.Do(func() {
		if fn := c.notifyFn(); fn != nil {
			fn()
		}
		close(c.exited)
	})
}

// TakeFeedback returns the waiting notifications in arrival order, decoded.
func (c *Conn) TakeFeedback() []Feedback {
	c.mu.Lock()
	q := c.fbQueue
	c.fbQueue = nil
	c.mu.Unlock()
	fbs := make([]Feedback, 0, len(q))
	for _, raw := range q {
		if fb, ok := decodeFeedback(raw); ok {
			fbs = append(fbs, fb)
		}
	}
	return fbs
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.closeOne.Do(func() {
		c.mu.Lock()
		c.err = err
		pending := c.pending
		c.pending = map[string]chan rpcAnswer{}
		if c.pongTimer != nil {
			c.pongTimer.Stop()
		}
		// Off the poller before the socket closes (its number may be reused at once).
		c.unpoll()
		reading := c.running
		c.mu.Unlock()
		c.wmu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.wmu.Unlock()
		_ = c.ws.Close()
		for _, ch := range pending {
			ch <- rpcAnswer{err: err}
		}
		close(c.done)
		if c.fr != nil && !reading {
			c.finish() // polled and nobody reading: ended now (else the reader finishes)
		}
	})
}

type wireMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// readFailure says why reading ended.
func readFailure(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("the codec stopped answering keep-alive pings")
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		return fmt.Errorf("the codec closed the connection: %w", err)
	}
	return fmt.Errorf("connection lost: %w", err)
}

// readLoop reads with a goroutine blocked in gorilla's reader (where the poller is not used).
func (c *Conn) readLoop() {
	defer c.finish() // told before Wait returns, so no notice of this connection comes after Wait
	c.ws.SetReadLimit(readLimit)
	c.ws.SetPongHandler(func(data string) error { c.pong([]byte(data)); return nil })
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.fail(readFailure(err))
			return
		}
		c.dispatch(data)
	}
}

// drain reads what the socket has, on a goroutine of its own until the socket has nothing
// more; then the poller watches the socket again.
func (c *Conn) drain() {
	for {
		data, ctl, err := c.fr.next()
		if err == nil {
			switch {
			case ctl == nil:
				c.dispatch(data)
			case ctl.op == opPing:
				c.wmu.Lock()
				_ = c.ws.WriteControl(websocket.PongMessage, ctl.payload, time.Now().Add(10*time.Second))
				c.wmu.Unlock()
			case ctl.op == opPong:
				c.pong(ctl.payload)
			}
			continue
		}
		if !errors.Is(err, errWouldBlock) {
			c.fail(readFailure(err))
		}
		c.mu.Lock()
		if c.again && c.err == nil { // the socket said "readable" while this read: read on
			c.again = false
			c.mu.Unlock()
			continue
		}
		c.running = false
		ended := c.err != nil
		c.mu.Unlock()
		if ended {
			c.finish()
		}
		return
	}
}

// readable is the poller's notice that the socket has data (or has closed).
func (c *Conn) readable() {
	c.mu.Lock()
	if c.running || c.err != nil {
		c.again = c.running // edge-triggered: this notice comes once, so the running drain reads on
		c.mu.Unlock()
		return
	}
	c.running = true
	c.mu.Unlock()
	go c.drain()
}

// dispatch hands a message to the request waiting for it, or queues it as feedback.
func (c *Conn) dispatch(data []byte) {
	var m wireMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.log.Debug("xAPI: unreadable message ignored", "err", err)
		return
	}
	if len(m.ID) == 0 || string(m.ID) == "null" {
		if m.Method == "xFeedback/Event" {
			c.deliverFeedback(m.Params)
		}
		return
	}
	key := idKey(m.ID)
	c.mu.Lock()
	ch := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if ch == nil {
		c.log.Debug("xAPI: answer to no request", "id", key)
		return
	}
	if m.Error != nil {
		ch <- rpcAnswer{err: &RPCError{Code: m.Error.Code, Message: m.Error.Message, Cause: causeOf(m.Error.Data)}}
		return
	}
	ch <- rpcAnswer{result: m.Result}
}

// idKey normalises an id as echoed: 7 and "7" are the same request.
func idKey(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

func causeOf(data json.RawMessage) int {
	var d struct {
		Cause json.RawMessage `json:"Cause"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil || len(d.Cause) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(strings.Trim(string(d.Cause), `"`))
	return n
}

// deliverFeedback queues a notification as it came. It is decoded by TakeFeedback, on the
// caller's goroutine: decoding into maps while reading grew every connected codec's reader
// stack from 4 to 8 KB for good (issue 22).
func (c *Conn) deliverFeedback(params json.RawMessage) {
	c.mu.Lock()
	if len(c.fbQueue) >= maxFeedbackQueue {
		c.fbQueue = c.fbQueue[1:]
		c.log.Warn("xAPI: feedback backlog full; the oldest notification was dropped")
	}
	c.fbQueue = append(c.fbQueue, params)
	fn := c.notify
	c.mu.Unlock()
	select {
	case c.fbReady <- struct{}{}:
	default:
	}
	if fn != nil {
		fn()
	}
}

// decodeFeedback reads one xFeedback/Event's params; ok is false for anything but an Event,
// Status or Configuration notification.
func decodeFeedback(params json.RawMessage) (Feedback, bool) {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return Feedback{}, false
	}
	fb := Feedback{SubID: -1}
	if id, ok := p["Id"]; ok {
		n, err := strconv.Atoi(strings.Trim(string(id), `"`))
		if err == nil {
			fb.SubID = n
		}
	}
	for _, root := range []string{"Event", "Status", "Configuration"} {
		if raw, ok := p[root]; ok {
			fb.Root = root
			_ = json.Unmarshal(raw, &fb.Body)
			return fb, true
		}
	}
	return Feedback{}, false
}

// Ping sends a keep-alive ping; when its pong has not arrived within wait (real time), the
// connection ends. The caller schedules pings (on its clock); one runtime timer per
// connection, no goroutine, watches for the answer.
//
// Only the answer to the latest ping counts. Other messages, and the answer to an earlier
// ping, may have been sent before the codec stopped and read only after this ping went out (a
// busy box, a slow link): counted, they hid a codec that froze just then until the next
// ping, and a loaded test machine saw it. A codec that is alive answers every ping.
func (c *Conn) Ping(wait time.Duration) {
	c.mu.Lock()
	c.pingSeq++
	payload := pingPayload(c.pingSeq)
	c.mu.Unlock()
	c.wmu.Lock()
	err := c.ws.WriteControl(websocket.PingMessage, payload, time.Now().Add(wait))
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("keep-alive ping: %w", err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.pongSeq == c.pingSeq { // answered already
		return
	}
	if c.pongTimer == nil {
		c.pongTimer = time.AfterFunc(wait, c.checkPong)
	} else {
		c.pongTimer.Reset(wait)
	}
}

// pingPayload is the application data of the n-th keep-alive ping, which its pong echoes.
func pingPayload(n uint64) []byte { return strconv.AppendUint([]byte("otj-"), n, 10) }

// pong takes a keep-alive answer: the answer to the latest ping stops its watch.
func (c *Conn) pong(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(data, pingPayload(c.pingSeq)) {
		return // an earlier ping's, or not ours
	}
	c.pongSeq = c.pingSeq
	if c.pongTimer != nil {
		c.pongTimer.Stop()
	}
}

func (c *Conn) checkPong() {
	c.mu.Lock()
	late := c.pongSeq < c.pingSeq
	c.mu.Unlock()
	if late {
		c.fail(errors.New("the codec stopped answering keep-alive pings"))
	}
}
