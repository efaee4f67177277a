package graph

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/otj-edge/otj-edge/sync/jsonvalid"
)

// Reading a $batch answer without decoding it. At a cold start most delta pages come inside
// $batch answers (up to 20 rooms' pages in one), and json.Unmarshal into the answer's struct
// checked the whole text, then scanned every page a second time to cut it out as a
// json.RawMessage, then each page was checked once more by scanPage: three passes over the
// cold start's largest text. Here the answer is checked once (jsonvalid.Valid: json.Valid's
// answer, several times faster) and walked once (pageScan); the pages it holds are marked
// checked, so scanPage walks them without checking again.
// TestBatchScanReadsWhatEncodingJSONReads and FuzzBatchScan hold the walk to the struct
// decoding it replaces.

// batchResponse is one answer inside a $batch answer.
type batchResponse struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    json.RawMessage
}

// scanBatch reads a $batch answer's responses; checked reports that their bodies were part
// of text checked as JSON. Anything the walk does not read as the struct decoding would (a
// member in another shape than Graph's) is decoded by encoding/json instead.
func scanBatch(b []byte) (out []batchResponse, checked bool, err error) {
	if !jsonvalid.Valid(b) {
		out, err = decodeBatch(b)
		if err == nil {
			err = errors.New("invalid JSON") // cannot happen: Unmarshal refuses what Valid does
		}
		return nil, false, err
	}
	p := &pageScan{b: b}
	p.ws()
	if b[p.i] != '{' {
		out, err = decodeBatch(b)
		return out, false, err
	}
	odd, seen := false, false
	p.members(func(name []byte) {
		if !isField(name, "responses") {
			p.value()
			return
		}
		// A second "responses" list is decoded by encoding/json into the first one's
		// elements (merged, not replaced); Graph sends one, so leave the rare rest to it.
		odd = odd || seen
		seen = true
		switch b[p.i] {
		case '[':
		case 'n':
			p.value()
			out = nil
			return
		default:
			p.value()
			odd = true
			return
		}
		out = out[:0]
		p.i++ // [
		for {
			p.ws()
			if b[p.i] == ']' {
				p.i++
				return
			}
			if b[p.i] == ',' {
				p.i++
				p.ws()
			}
			if b[p.i] != '{' {
				p.value()
				odd = true
				continue
			}
			var r batchResponse
			p.members(func(name []byte) {
				v := p.value()
				switch {
				case isField(name, "id"):
					if v[0] != '"' {
						odd = odd || v[0] != 'n'
						return
					}
					r.ID = jsonString(v)
				case isField(name, "status"):
					n, err := strconv.Atoi(string(v))
					if err != nil {
						odd = odd || v[0] != 'n'
						return
					}
					r.Status = n
				case isField(name, "headers"):
					if v[0] == 'n' {
						return
					}
					if json.Unmarshal(v, &r.Headers) != nil {
						odd = true
					}
				case isField(name, "body"):
					r.Body = v[:len(v):len(v)]
				}
			})
			out = append(out, r)
		}
	})
	if odd {
		out, err = decodeBatch(b)
		return out, false, err
	}
	return out, true, nil
}

// decodeBatch is the struct decoding the walk stands in for (and its reference in tests).
func decodeBatch(b []byte) ([]batchResponse, error) {
	var answer struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &answer); err != nil {
		return nil, err
	}
	out := make([]batchResponse, len(answer.Responses))
	for i, r := range answer.Responses {
		out[i] = batchResponse{ID: r.ID, Status: r.Status, Headers: r.Headers, Body: r.Body}
	}
	return out, nil
}
