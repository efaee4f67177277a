package pexipimport

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// managementNode serves the test export over the configuration API, paging each list by the
// client's limit (2 at most, so every list with more objects pages), behind Basic auth.
func managementNode(t *testing.T) (*httptest.Server, *atomic.Int64) {
	requests := &atomic.Int64{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "mgr-Pa55word" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		kind := strings.Trim(strings.TrimPrefix(r.URL.Path, apiPrefix), "/")
		data, err := os.ReadFile(filepath.Join("testdata/export", kind+".json"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		var lr struct {
			Objects []json.RawMessage `json:"objects"`
		}
		require.NoError(t, json.Unmarshal(data, &lr))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		limit = min(max(limit, 1), 2)
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		end := min(offset+limit, len(lr.Objects))
		var next *string
		if end < len(lr.Objects) {
			s := r.URL.Path + "?limit=" + strconv.Itoa(limit) + "&offset=" + strconv.Itoa(end)
			next = &s
		}
		page := lr.Objects[min(offset, len(lr.Objects)):end]
		if page == nil {
			page = []json.RawMessage{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"meta":    map[string]any{"limit": limit, "offset": offset, "next": next, "total_count": len(lr.Objects)},
			"objects": page,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

func TestFetchPagesAndImportsLikeFiles(t *testing.T) {
	srv, requests := managementNode(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	e, err := Fetch(context.Background(), FetchOptions{URL: srv.URL, Username: "admin", Password: "mgr-Pa55word", CAFile: ca, PageSize: 2})
	require.NoError(t, err)
	require.Len(t, e.Objects["mjx_meeting_processing_rule"], 24, "every page of the rules was read")
	require.Greater(t, int(requests.Load()), len(Objects)+10, "lists longer than a page were paged")
	fetched, err := Import(e, Options{Site: "contoso-oslo", Source: "testdata/export"})
	require.NoError(t, err)
	fromFiles := importTestdata(t)
	require.Equal(t, string(fromFiles.Config), string(fetched.Config), "a fetched export imports exactly as the exported files")

	_, err = Fetch(context.Background(), FetchOptions{URL: srv.URL, Username: "admin", Password: "wrong-password", CAFile: ca})
	require.ErrorContains(t, err, "refused the credentials")
	require.NotContains(t, err.Error(), "wrong-password")
	_, err = Fetch(context.Background(), FetchOptions{URL: srv.URL, Username: "admin", Password: "mgr-Pa55word"})
	require.ErrorContains(t, err, "certificate", "an unknown CA is refused without --ca-file")
	_, err = Fetch(context.Background(), FetchOptions{URL: "http://127.0.0.1:1", Username: "a", Password: "b"})
	require.ErrorContains(t, err, "not an https URL")
}
