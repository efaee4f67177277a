package polysim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// adminHandler is the admin API (documented in simulators/README.md):
//
//	GET  /endpoints                       every endpoint's state
//	GET  /endpoints/{name}/meetings       what the endpoint shows, with its state and last poll
//	GET  /endpoints/{name}/requests       the EWS requests it made (latest 500)
//	GET  /endpoints/{name}/conferences    the calls it placed
//	POST /endpoints/{name}/poll           poll now; answers like /meetings
//	GET  /endpoints/{name}/faults         injected faults
//	PUT  /endpoints/{name}/faults         replace them: {"wrong_password": true, "stop_polling": true}
//	POST /endpoints/{name}/junk           send one hostile request: {"kind": "entity_bomb"}
//	POST /endpoints/{name}/reboot         new REST certificate, sessions and calls dropped, meetings forgotten
func (f *Fleet) adminHandler() http.Handler {
	mux := http.NewServeMux()
	ep := func(h func(http.ResponseWriter, *http.Request, *Endpoint)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			e := f.eps[r.PathValue("name")]
			if e == nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "no endpoint named " + r.PathValue("name")})
				return
			}
			h(w, r, e)
		}
	}
	mux.HandleFunc("GET /endpoints", func(w http.ResponseWriter, r *http.Request) {
		out := []map[string]any{}
		for _, name := range f.sortedNames() {
			st := f.eps[name].Status()
			out = append(out, map[string]any{"name": st.Name, "room": st.Room, "state": st.State, "last_poll": st.LastPoll,
				"last_error": st.LastError, "polls": st.Polls, "meetings": len(st.Meetings), "rest_url": st.RESTURL})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /endpoints/{name}/meetings", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		writeJSON(w, http.StatusOK, e.Status())
	}))
	mux.HandleFunc("GET /endpoints/{name}/requests", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		writeJSON(w, http.StatusOK, e.Requests())
	}))
	mux.HandleFunc("GET /endpoints/{name}/conferences", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		writeJSON(w, http.StatusOK, e.rest.allConferences())
	}))
	mux.HandleFunc("POST /endpoints/{name}/poll", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		if err := e.PollNow(ctx); errors.Is(err, ErrStopped) {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, e.Status()) // a failed poll shows in state and last_error
	}))
	mux.HandleFunc("GET /endpoints/{name}/faults", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		writeJSON(w, http.StatusOK, e.Faults())
	}))
	mux.HandleFunc("PUT /endpoints/{name}/faults", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		var fl Faults
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		d.DisallowUnknownFields()
		if err := d.Decode(&fl); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
			return
		}
		e.SetFaults(fl)
		writeJSON(w, http.StatusOK, fl)
	}))
	mux.HandleFunc("POST /endpoints/{name}/junk", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		var body struct {
			Kind string `json:"kind"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "junk: " + err.Error()})
			return
		}
		res, err := e.SendJunk(r.Context(), body.Kind)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}))
	mux.HandleFunc("POST /endpoints/{name}/reboot", ep(func(w http.ResponseWriter, r *http.Request, e *Endpoint) {
		if err := e.Reboot(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, e.Status())
	}))
	return mux
}

// Reboot makes the endpoint come back as after a power cycle: a new REST certificate, no
// sessions or calls, no meetings until its next poll.
func (ep *Endpoint) Reboot() error {
	if err := ep.rest.reboot(); err != nil {
		return err
	}
	ep.mu.Lock()
	ep.meetings, ep.bodies, ep.discovered = nil, map[string]served{}, false
	if ep.opts.EWSURL != "" {
		ep.state = StateConnecting
	}
	ep.mu.Unlock()
	ep.client.CloseIdleConnections()
	select {
	case ep.wake <- struct{}{}:
	default:
	}
	return nil
}

// JunkKinds are the hostile requests SendJunk can make.
var JunkKinds = []string{"malformed", "not_xml", "entity_bomb", "external_entity", "deep", "unknown_operation", "wrong_namespace", "oversize", "oversize_chunked"}

// JunkResult is how the server answered a hostile request.
type JunkResult struct {
	Kind         string `json:"kind"`
	BytesSent    int64  `json:"bytes_sent"`
	Status       int    `json:"status"`
	FaultCode    string `json:"fault_code,omitempty"`
	ResponseCode string `json:"response_code,omitempty"`
	FaultString  string `json:"fault_string,omitempty"`
	Error        string `json:"error,omitempty"` // transport error (e.g. the server closed the connection)
}

// oversizeBytes is the "50 MB body" of the oversize junk kinds.
const oversizeBytes = 50 << 20

// SendJunk sends one hostile request with the endpoint's valid credential, so it reaches the
// parser, and reports the answer.
func (ep *Endpoint) SendJunk(ctx context.Context, kind string) (JunkResult, error) {
	res := JunkResult{Kind: kind}
	var body io.Reader
	length := int64(-1)
	switch kind {
	case "malformed":
		body = strings.NewReader(envelope("Exchange2010", `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>`)[:300])
	case "not_xml":
		body = strings.NewReader("\x00\x01GET / HTTP/1.1\r\n\xff\xfe not xml at all")
	case "entity_bomb":
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`)
		prev := "lol"
		for i := 1; i <= 9; i++ {
			name := fmt.Sprintf("lol%d", i)
			b.WriteString(`<!ENTITY ` + name + ` "` + strings.Repeat("&"+prev+";", 10) + `">`)
			prev = name
		}
		b.WriteString(`]><soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Body><m:ResolveNames xmlns:m="` + nsMsgs + `"><m:UnresolvedEntry>&lol9;</m:UnresolvedEntry></m:ResolveNames></soap:Body></soap:Envelope>`)
		body = strings.NewReader(b.String())
	case "external_entity":
		body = strings.NewReader(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Body><m:ResolveNames xmlns:m="` + nsMsgs + `"><m:UnresolvedEntry>&xxe;</m:UnresolvedEntry></m:ResolveNames></soap:Body></soap:Envelope>`)
	case "deep":
		body = strings.NewReader(envelope("Exchange2010", `<m:FindItem>`+strings.Repeat("<t:X>", 10000)+strings.Repeat("</t:X>", 10000)+`</m:FindItem>`))
	case "unknown_operation":
		body = strings.NewReader(envelope("Exchange2010", `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`))
	case "wrong_namespace":
		body = strings.NewReader(strings.ReplaceAll(envelope("Exchange2010", getFolderBody(ep.opts.Room)), "http://schemas", "https://schemas"))
	case "oversize", "oversize_chunked":
		// A valid start, then padding: streamed, never held in memory.
		head := envelope("Exchange2010", getFolderBody(ep.opts.Room))
		body = io.MultiReader(strings.NewReader(head[:len(head)-len("</soap:Body></soap:Envelope>")]), &padding{n: oversizeBytes})
		if kind == "oversize" {
			length = int64(len(head)-len("</soap:Body></soap:Envelope>")) + oversizeBytes
		}
	default:
		return res, fmt.Errorf("unknown junk kind %q (one of %s)", kind, strings.Join(JunkKinds, ", "))
	}
	counted := &countingReader{r: body}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.opts.EWSURL, counted)
	if err != nil {
		return res, err
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(ep.opts.Username+":"+ep.opts.Password)))
	resp, err := ep.client.Do(req)
	res.BytesSent = counted.n.Load()
	ep.logRequest("junk:"+kind, statusOf(resp), err)
	if err != nil {
		res.Error = err.Error()
		return res, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res.Status = resp.StatusCode
	if f := parseFault(data); f != nil {
		res.FaultCode, res.ResponseCode, res.FaultString = f.Code, f.ResponseCode, f.String
	}
	return res, nil
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// padding yields n bytes of white space inside the SOAP body.
type padding struct{ n int64 }

var spaces = bytes.Repeat([]byte(" "), 32<<10)

func (p *padding) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	n := copy(b, spaces[:min(int64(len(spaces)), p.n)])
	p.n -= int64(n)
	return n, nil
}

// countingReader counts what the transport has read; the transport may still be writing when
// the server has answered, hence the atomic.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
