package graph

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// parsePageMaps is how delta pages were read before pagescan.go: every event decoded into a
// property map. scanPage must read the same items from any page this reads, and refuse what
// this refuses.
func parsePageMaps(body []byte) (page, error) {
	var raw struct {
		Value     []doc  `json:"value"`
		NextLink  string `json:"@odata.nextLink"`
		DeltaLink string `json:"@odata.deltaLink"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return page{}, err
	}
	p := page{nextLink: raw.NextLink, deltaLink: raw.DeltaLink}
	for _, d := range raw.Value {
		it := item{doc: d, id: d.str("id"), typ: d.str("type"), masterID: d.str("seriesMasterId"), etag: d.str("@odata.etag")}
		if it.id == "" {
			continue
		}
		_, it.removed = d["@removed"]
		p.items = append(p.items, it)
	}
	return p, nil
}

func FuzzParsePage(f *testing.F) {
	f.Add(deltaPage(3))
	for _, s := range []string{
		`{"value":[{"id":"a","@removed":null},null,{"id":"b","type":"occurrence","seriesMasterId":"m","@odata.etag":"W/\"x\\\"y\""}],"@odata.nextLink":"n"}`,
		`{"value":null,"@odata.deltaLink":"d\u00e9"}`,
		`{"@odata.nextLink":5,"value":[]}`,
		`{"value":["x"],"@odata.deltaLink":"d"}`,
		`{"value":[{"id":"a","id":"b","i\u0064":"c","nested":{"id":"no","x":[1,{"id":"no"}]},"s":"}]\"{"}],"@odata.deltaLink":"d"}`,
		` { "value" : [ { "id" : "a" , "n" : -1.5e3 , "t" : true } ] , "@odata.deltaLink" : null } `,
		`[]`, `"x"`, `{"value":{}}`, `{"value":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := parsePageMaps(body)
		got, err := scanPage(body)
		if wantErr != nil {
			require.Error(t, err, "maps refused it: %v", wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want.nextLink, got.nextLink)
		require.Equal(t, want.deltaLink, got.deltaLink)
		require.Len(t, got.items, len(want.items))
		for i, w := range want.items {
			g := got.items[i]
			require.Equal(t, [4]string{w.id, w.typ, w.masterID, w.etag}, [4]string{g.id, g.typ, g.masterID, g.etag})
			require.Equal(t, w.removed, g.removed)
			require.Equal(t, string(withoutNulls(w.doc).encode()), string(withoutNulls(g.document()).encode()))
		}
	})
}
