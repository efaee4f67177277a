package ciscosim

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// JSON-RPC error codes (README "Cisco endpoints").
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
	codeNoMethod       = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
	codePermission     = -31999
	codeSubscriptions  = -31998
	codeNotReady       = -31997
	codeCommandError   = 1
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return e.Message }

func errf(code int, msg string) *rpcError { return &rpcError{Code: code, Message: msg} }

// commandError is code 1 with data.Cause, what a command that ran and failed returns.
func commandError(cause int, msg string) *rpcError {
	return &rpcError{Code: codeCommandError, Message: msg, Data: map[string]any{"Cause": cause}}
}

var errPermission = errf(codePermission, "Permission denied")

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type notification struct {
	JSONRPC string         `json:"jsonrpc"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params"`
}

type heldReply struct {
	seq int
	b   []byte
}

// conn is one authenticated WebSocket connection: its user, its feedback subscriptions and its
// writer (one writer at a time, as gorilla requires).
type conn struct {
	codec *Codec
	ws    *websocket.Conn
	user  User

	wmu      sync.Mutex
	dead     bool
	frozen   bool        // hung: no answers, no pongs (FreezeConnections)
	held     []heldReply // replies held by the Reorder fault
	reqSeq   int
	holdT    *time.Timer
	inFlight int

	smu    sync.Mutex
	subs   map[int][]string
	subSeq int
}

func (c *Codec) newConn(ws *websocket.Conn, u User, gen int) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return nil
	default:
	}
	if gen != c.dropGen {
		return nil // dropped (reboot, certificate change) between the upgrade and now
	}
	c.connSeq++
	// Subscription ids are per connection and do not start at a fixed number.
	cn := &conn{codec: c, ws: ws, user: u, subs: map[int][]string{}, subSeq: 1 + (c.connSeq*7+c.boots*13)%50}
	c.conns[cn] = true
	return cn
}

func (cn *conn) subscriptionCount() int {
	cn.smu.Lock()
	defer cn.smu.Unlock()
	return len(cn.subs)
}

// serve reads requests until the connection ends. Each request is answered from its own
// goroutine, as the real API is asynchronous: answers may overtake each other.
func (cn *conn) serve() {
	c := cn.codec
	defer func() {
		c.mu.Lock()
		delete(c.conns, cn)
		c.mu.Unlock()
		cn.kill()
	}()
	cn.ws.SetReadLimit(4 << 20)
	cn.ws.SetPingHandler(func(data string) error {
		cn.wmu.Lock()
		defer cn.wmu.Unlock()
		if cn.frozen || cn.dead {
			return nil
		}
		return cn.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		typ, data, err := cn.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		var req request
		if err := json.Unmarshal(data, &req); err != nil {
			cn.send(response{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: errf(codeParse, "Parse error")})
			continue
		}
		if req.ID != nil && !validID(req.ID) {
			cn.send(response{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: errf(codeInvalidRequest, "Invalid request: id must be a string or a number")})
			continue
		}
		id := req.ID
		if id == nil {
			id = json.RawMessage("null")
		}
		if req.JSONRPC != "2.0" || req.Method == "" {
			cn.send(response{JSONRPC: "2.0", ID: id, Error: errf(codeInvalidRequest, "Invalid request: jsonrpc \"2.0\" and method are required")})
			continue
		}
		f := c.Faults()
		if f.DropNext != "" && strings.EqualFold(f.DropNext, req.Method) {
			c.mu.Lock()
			c.faults.DropNext = ""
			c.mu.Unlock()
			if f.DropApplies {
				cn.handle(req)
			} else {
				c.countRequest(req.Method)
				c.recordDropped(cn.user, req)
			}
			c.log.Info("fault: dropping the connection mid-request", "method", req.Method)
			cn.kill()
			return
		}
		cn.wmu.Lock()
		cn.inFlight++
		cn.reqSeq++
		seq := cn.reqSeq
		c.mu.Lock()
		c.stats.MaxInFlight = max(c.stats.MaxInFlight, cn.inFlight)
		c.mu.Unlock()
		cn.wmu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			result, rerr := cn.handle(req)
			if f := c.Faults(); f.Delay > 0 {
				time.Sleep(f.Delay)
			}
			cn.wmu.Lock()
			cn.inFlight--
			cn.wmu.Unlock()
			if req.ID == nil {
				return // a notification from the client gets no answer
			}
			resp := response{JSONRPC: "2.0", ID: id}
			if rerr != nil {
				resp.Error = rerr
			} else {
				resp.Result = result
			}
			cn.reply(seq, resp)
		}()
	}
}

func validID(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case '"':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return string(raw) == "null"
}

func (c *Codec) countRequest(method string) {
	c.mu.Lock()
	c.stats.Requests[method]++
	c.mu.Unlock()
}

// handle runs one request and returns its result or error.
func (cn *conn) handle(req request) (any, *rpcError) {
	c := cn.codec
	c.countRequest(req.Method)
	var params map[string]any
	if len(req.Params) > 0 && string(req.Params) != "null" {
		dec := json.NewDecoder(bytes.NewReader(req.Params))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			return nil, errf(codeInvalidParams, "Invalid params: params must be an object of named parameters")
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	c.mu.Lock()
	booting := time.Now().Before(c.readyAt)
	c.mu.Unlock()
	if booting {
		return nil, errf(codeNotReady, "System not ready")
	}
	switch {
	case req.Method == "xGet":
		return c.xGet(cn.user, params)
	case req.Method == "xQuery":
		return c.xQuery(cn.user, params)
	case req.Method == "xSet":
		return c.xSet(cn.user, params)
	case req.Method == "xFeedback/Subscribe":
		return cn.subscribe(params)
	case req.Method == "xFeedback/Unsubscribe":
		return cn.unsubscribe(params)
	case strings.HasPrefix(req.Method, "xCommand/"):
		return c.command(cn, strings.TrimPrefix(req.Method, "xCommand/"), params)
	}
	return nil, errf(codeNoMethod, "Method not found: "+req.Method)
}

// reply sends a response, applying the Delay, Reorder and InterleaveFeedback faults.
func (cn *conn) reply(seq int, resp response) {
	f := cn.codec.Faults()
	if f.InterleaveFeedback {
		cn.sendCurrentValues()
	}
	if f.JunkFrames {
		cn.sendJunk()
	}
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(response{JSONRPC: "2.0", ID: resp.ID, Error: errf(codeInternal, "Internal error")})
	}
	if !f.Reorder {
		cn.write(b)
		return
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	cn.held = append(cn.held, heldReply{seq, b})
	// Release when another answer is ready to overtake this one, or after a short wait (a
	// lone request is answered late rather than never).
	if len(cn.held) >= 2 {
		cn.flushHeldLocked()
		return
	}
	if cn.holdT == nil {
		cn.holdT = time.AfterFunc(30*time.Millisecond, func() {
			cn.wmu.Lock()
			defer cn.wmu.Unlock()
			cn.holdT = nil
			cn.flushHeldLocked()
		})
	}
}

// flushHeldLocked writes held replies, answers to later requests first.
func (cn *conn) flushHeldLocked() {
	if cn.holdT != nil {
		cn.holdT.Stop()
		cn.holdT = nil
	}
	sort.Slice(cn.held, func(i, j int) bool { return cn.held[i].seq > cn.held[j].seq })
	for _, h := range cn.held {
		cn.writeLocked(h.b)
	}
	cn.held = nil
}

// JunkFrameKinds are the frames the JunkFrames fault sends, in order.
var JunkFrameKinds = []string{"not_json", "binary", "unknown_id", "wrong_types", "params_not_object", "array", "huge_string"}

// sendJunk writes one frame of each junk kind.
func (cn *conn) sendJunk() {
	frames := [][]byte{
		[]byte("this is not JSON \x00\xff"),
		nil, // binary, below
		[]byte(`{"jsonrpc":"2.0","id":"never-asked-987654","result":{"status":"OK"}}`),
		[]byte(`{"jsonrpc":2,"id":{"nested":true},"method":42,"result":"x"}`),
		[]byte(`{"jsonrpc":"2.0","method":"xFeedback/Event","params":"not an object"}`),
		[]byte(`[1,2,3]`),
		[]byte(`{"jsonrpc":"2.0","method":"xFeedback/Event","params":{"Event":{"Junk":"` + strings.Repeat("A", 256<<10) + `"}}}`),
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	for i, b := range frames {
		if cn.dead || cn.frozen {
			return
		}
		_ = cn.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		var err error
		if i == 1 {
			err = cn.ws.WriteMessage(websocket.BinaryMessage, []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01})
		} else {
			err = cn.ws.WriteMessage(websocket.TextMessage, b)
		}
		if err != nil {
			cn.dead = true
			_ = cn.ws.UnderlyingConn().Close()
			return
		}
	}
	cn.codec.mu.Lock()
	cn.codec.stats.JunkFrames += len(frames)
	cn.codec.mu.Unlock()
}

func (cn *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	cn.write(b)
}

func (cn *conn) write(b []byte) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	cn.writeLocked(b)
}

func (cn *conn) writeLocked(b []byte) {
	if cn.dead || cn.frozen {
		return
	}
	_ = cn.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := cn.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		cn.dead = true
		_ = cn.ws.UnderlyingConn().Close()
	}
}

// kill cuts the connection without a close frame.
func (cn *conn) kill() {
	cn.wmu.Lock()
	cn.dead = true
	if cn.holdT != nil {
		cn.holdT.Stop()
		cn.holdT = nil
	}
	cn.wmu.Unlock()
	_ = cn.ws.UnderlyingConn().Close()
}

// subscribe is xFeedback/Subscribe: Query is a path under Status, Configuration or Event.
func (cn *conn) subscribe(p map[string]any) (any, *rpcError) {
	path, rerr := pathParam(p, "Query")
	if rerr != nil {
		return nil, rerr
	}
	root := strings.ToLower(pathString(path[0]))
	if root != "status" && root != "configuration" && root != "event" {
		return nil, errf(codeInvalidParams, "Invalid params: Query must start with Status, Configuration or Event")
	}
	c := cn.codec
	// Bookings feedback is for Admin and User only (schema access), not Integrator.
	if len(path) > 1 && strings.EqualFold(pathString(path[1]), "Bookings") && !cn.user.has(RoleAdmin, RoleUser) {
		return nil, errPermission
	}
	strs := make([]string, len(path))
	for i, e := range path {
		strs[i] = pathString(e)
	}
	cn.smu.Lock()
	if len(cn.subs) >= c.cfg.MaxSubscriptions {
		cn.smu.Unlock()
		return nil, errf(codeSubscriptions, "Subscription count exceeded")
	}
	id := cn.subSeq
	cn.subSeq++
	cn.subs[id] = strs
	cn.smu.Unlock()
	if b, _ := p["NotifyCurrentValue"].(bool); b && root != "event" {
		// Current values follow the result; a goroutine lets the result go first.
		go func() {
			time.Sleep(5 * time.Millisecond)
			if v, ok := c.subtreeForNotify(strs); ok {
				cn.notify(id, v)
			}
		}()
	}
	return map[string]any{"Id": id}, nil
}

func (cn *conn) unsubscribe(p map[string]any) (any, *rpcError) {
	n, ok := intParam(p["Id"])
	if !ok {
		return nil, errf(codeInvalidParams, "Invalid params: Id is required")
	}
	cn.smu.Lock()
	defer cn.smu.Unlock()
	if _, ok := cn.subs[n]; !ok {
		return nil, errf(codeInvalidParams, "Invalid params: no subscription with that Id")
	}
	delete(cn.subs, n)
	return true, nil
}

// notify sends an xFeedback/Event for subscription id; body is {"Status": …} or similar.
func (cn *conn) notify(id int, body map[string]any) {
	params := map[string]any{"Id": id}
	for k, v := range body {
		params[k] = v
	}
	cn.send(notification{JSONRPC: "2.0", Method: "xFeedback/Event", Params: params})
}

// sendCurrentValues sends the current value of every Status subscription of the connection
// (unsolicited feedback for the InterleaveFeedback fault).
func (cn *conn) sendCurrentValues() {
	cn.smu.Lock()
	subs := map[int][]string{}
	for id, q := range cn.subs {
		subs[id] = q
	}
	cn.smu.Unlock()
	for id, q := range subs {
		if !strings.EqualFold(q[0], "Status") {
			continue
		}
		if v, ok := cn.codec.subtreeForNotify(q); ok {
			cn.notify(id, v)
		}
	}
}

// feedback delivers a change at path (e.g. Event Bookings Start, Status Bookings Current Id) to
// every subscription whose query is a prefix of it. body is the nested object from the root
// ({"Event": {"Bookings": {"Start": {"Id": "x"}}}}).
func (c *Codec) feedback(path []string, body map[string]any) {
	for _, cn := range c.openConns() {
		cn.smu.Lock()
		var ids []int
		for id, q := range cn.subs {
			if matchPrefix(q, path) {
				ids = append(ids, id)
			}
		}
		cn.smu.Unlock()
		for _, id := range ids {
			cn.notify(id, body)
		}
	}
}

// matchPrefix reports whether query (which may contain "*" for one level or "**" for any
// number) covers path.
func matchPrefix(query, path []string) bool {
	for i, q := range query {
		if q == "**" {
			return true
		}
		if i >= len(path) {
			return false
		}
		if q != "*" && !strings.EqualFold(q, path[i]) {
			return false
		}
	}
	return true
}
