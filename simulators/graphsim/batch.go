package graphsim

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// $batch: up to 20 Graph operations in one request, each answered on its own.

// decodeBatch reads a $batch body (gzipped or not); problem is Graph's message when it is
// not a batch.
func decodeBatch(r *http.Request) (parts []batchPart, problem string) {
	var in struct {
		Requests []batchPart `json:"requests"`
	}
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") { // the SDK may compress bodies
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, "Invalid gzip body."
		}
		defer gz.Close()
		rd = gz
	}
	body, err := io.ReadAll(io.LimitReader(rd, 4<<20))
	if err != nil || json.Unmarshal(body, &in) != nil {
		return nil, "Invalid batch payload format."
	}
	return in.Requests, ""
}

type batchPart struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch runs POST /v1.0/$batch: at most 20 parts, at most 4 executing at a time, parts
// with dependsOn after their dependencies (424 when one failed). Each part is counted and
// limited like a request of its own.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeResp(w, errResp(http.StatusMethodNotAllowed, "BadRequest", "Use POST for $batch."))
		return
	}
	parts, problem := decodeBatch(r)
	if problem != "" {
		s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", problem))
		return
	}
	in := struct{ Requests []batchPart }{parts}
	n := len(in.Requests)
	switch {
	case n == 0:
		s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "Invalid batch payload format."))
		return
	case n > BatchLimit:
		s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Limit of %d requests per batch is exceeded.", BatchLimit)))
		return
	}
	idx := map[string]int{}
	for i, p := range in.Requests {
		if _, dup := idx[p.ID]; dup || p.ID == "" {
			s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "Batch request ids must be unique and not empty."))
			return
		}
		idx[p.ID] = i
	}
	for _, p := range in.Requests {
		for _, d := range p.DependsOn {
			if _, ok := idx[d]; !ok {
				s.writeResp(w, errResp(http.StatusBadRequest, "BadRequest", "Depends on request "+d+" which is not in the batch."))
				return
			}
		}
	}
	s.mu.Lock()
	s.totals.Batches++
	s.totals.BatchParts += n
	batchFault := s.takeFault("", "/$batch", FaultStatus, FaultGarbage, FaultDrop)
	s.mu.Unlock()
	if batchFault != nil {
		switch batchFault.Kind {
		case FaultGarbage:
			s.writeResp(w, gResp{status: http.StatusOK, garbage: []byte(`{"responses":[{"id":"1","status":200,"body":{"value":[`)})
		case FaultDrop:
			s.writeResp(w, gResp{drop: true})
		default:
			code, msg := defaultErrorFor(max(batchFault.Status, 500))
			s.writeResp(w, errResp(max(batchFault.Status, 500), code, msg))
		}
		return
	}

	results := make([]gResp, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, BatchParallelism)
	var wg sync.WaitGroup
	for i, p := range in.Requests {
		wg.Go(func() {
			defer close(done[i])
			for _, d := range p.DependsOn {
				<-done[idx[d]]
				if results[idx[d]].status >= 400 || results[idx[d]].status == 0 {
					results[i] = errResp(http.StatusFailedDependency, "FailedDependency", "Dependent request "+d+" failed.")
					return
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = s.batchPart(r.Context(), p)
		})
	}
	wg.Wait()
	out := make([]map[string]any, n)
	for i, p := range in.Requests {
		res := results[i]
		if res.drop {
			s.writeResp(w, res)
			return
		}
		if res.garbage != nil {
			s.writeResp(w, gResp{status: http.StatusOK, garbage: []byte(`{"responses":[{"id":"` + p.ID + `","status":200,"body":{"value":[`)})
			return
		}
		hdr := map[string]string{"Content-Type": "application/json"}
		for k, vs := range res.header {
			hdr[k] = strings.Join(vs, ",")
		}
		out[i] = map[string]any{"id": p.ID, "status": res.status, "headers": hdr, "body": res.body}
	}
	writeJSON(w, http.StatusOK, map[string]any{"responses": out})
}

func (s *Server) countRequest() {
	s.mu.Lock()
	s.totals.Requests++
	s.mu.Unlock()
}

func (s *Server) batchPart(ctx context.Context, p batchPart) gResp {
	s.countRequest()
	if !strings.EqualFold(p.Method, http.MethodGet) {
		return errResp(http.StatusMethodNotAllowed, "BadRequest", "graphsim serves GET parts only.")
	}
	raw := p.URL
	if strings.Contains(raw, "://") {
		return errResp(http.StatusBadRequest, "BadRequest", "Batch request urls must be relative: "+raw)
	}
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw
	}
	raw = strings.TrimPrefix(raw, "/v1.0")
	u, err := url.Parse(raw)
	if err != nil {
		return errResp(http.StatusBadRequest, "BadRequest", "Invalid request url: "+p.URL)
	}
	var prefer []string
	for k, v := range p.Headers {
		if strings.EqualFold(k, "Prefer") {
			prefer = preferValues([]string{v})
		}
	}
	return s.do(ctx, gReq{method: http.MethodGet, path: u.Path, query: u.Query(), prefer: prefer})
}
