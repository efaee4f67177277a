package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var batchSeeds = []string{
	`{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":{"value":[{"id":"a","subject":"x \"y\""}],"@odata.deltaLink":"https://graph/d"}},{"id":"2","status":429,"headers":{"Retry-After":"7"},"body":{"error":{"code":"TooManyRequests","message":"slow"}}}]}`,
	` { "Responses" : [ { "ID" : "3" , "Status" : 404 , "body" : null } ] } `,
	`{"responses":null}`, `{"responses":[]}`, `{"responses":[null]}`, `{"responses":{}}`,
	`{"responses":[{"id":7,"status":200}]}`, `{"responses":[{"id":"1","status":"200"}]}`,
	`{"responses":[{"id":"1","status":200.5}]}`, `{"responses":[{"id":"1","headers":{"a":1}}]}`,
	`{"responses":[{"id":"1","headers":{"a":"b"},"headers":{"c":"d"}}]}`,
	`{"responses":[{"id":"1"}],"responses":[{"id":"2"}]}`, `{"responses":[{"body":"aGVsbG8="}]}`,
	`[]`, `"x"`, `null`, `{"responses":[{"id":"1","status":99999999999999999999}]}`, `{"r\u0065sponses":[{"id":"1"}]}`,
}

// TestBatchScanReadsWhatEncodingJSONReads: the walk gives the responses the struct decoding
// gives ($batch answers of every shape Graph sends, and odd ones), and refuses what it refuses.
func TestBatchScanReadsWhatEncodingJSONReads(t *testing.T) {
	for _, s := range batchSeeds {
		want, werr := decodeBatch([]byte(s))
		got, _, gerr := scanBatch([]byte(s))
		if werr != nil {
			assert.Error(t, gerr, s)
			continue
		}
		require.NoError(t, gerr, s)
		assert.Equal(t, normBatch(want), normBatch(got), s)
	}
}

// TestBatchPagesAreReadAsTheyWereBefore: a delta page inside a checked $batch answer reads
// the same as the page checked alone, and a missing body is refused, not a crash.
func TestBatchPagesAreReadAsTheyWereBefore(t *testing.T) {
	rs, checked, err := scanBatch([]byte(batchSeeds[0]))
	require.NoError(t, err)
	require.True(t, checked)
	alone, err := parsePage(rs[0].Body)
	require.NoError(t, err)
	inBatch, err := parseCheckedPage(rs[0].Body)
	require.NoError(t, err)
	assert.Equal(t, alone, inBatch)
	_, err = parseCheckedPage(nil)
	assert.Error(t, err)
}

func FuzzBatchScan(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := decodeBatch(b)
		got, checked, gerr := scanBatch(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json %v, walk %v", b, werr, gerr)
		}
		if werr != nil {
			return
		}
		if w, g := normBatch(want), normBatch(got); !assert.ObjectsAreEqual(w, g) {
			t.Fatalf("%q:\nwant %v\ngot  %v", b, w, g)
		}
		if checked {
			for _, r := range got {
				a, aerr := parsePage(r.Body)
				c, cerr := parseCheckedPage(r.Body)
				if (aerr == nil) != (cerr == nil) || (aerr == nil && !assert.ObjectsAreEqual(a, c)) {
					t.Fatalf("%q: page alone %v / %v, checked %v / %v", r.Body, a, aerr, c, cerr)
				}
			}
		}
	})
}

type normResponse struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    string
}

func normBatch(rs []batchResponse) []normResponse {
	out := []normResponse{}
	for _, r := range rs {
		out = append(out, normResponse{r.ID, r.Status, r.Headers, string(r.Body)})
	}
	return out
}
