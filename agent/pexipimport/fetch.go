package pexipimport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// FetchOptions say where a Management Node is and how to log in to its configuration API.
type FetchOptions struct {
	URL      string // https://manager.example.com
	Username string
	Password string
	CAFile   string       // extra trusted CA (a Management Node with a private CA)
	Client   *http.Client // tests; default: a client with a 60 s timeout
	PageSize int          // objects per request; default 500
}

// maxPages bounds the paging of one object list (a loop in "next" must end).
const maxPages = 1000

// Fetch reads every One-Touch Join object list from a Management Node, following the API's
// paging (meta.next).
func Fetch(ctx context.Context, o FetchOptions) (*Export, error) {
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || base.Host == "" || base.Scheme != "https" {
		return nil, fmt.Errorf("fetch: %q is not an https URL of a Management Node (https://manager.example.com)", o.URL)
	}
	client := o.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("fetch: read --ca-file: %w", err)
			}
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("fetch: %s holds no PEM certificate", o.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	}
	size := o.PageSize
	if size <= 0 {
		size = 500
	}
	e := NewExport()
	for _, kind := range Objects {
		next := fmt.Sprintf("%s%s/?limit=%d", apiPrefix, kind, size)
		for page := 0; next != ""; page++ {
			if page == maxPages {
				return nil, fmt.Errorf("fetch %s: more than %d pages; the API's paging does not end", kind, maxPages)
			}
			ref, err := url.Parse(next)
			if err != nil {
				return nil, fmt.Errorf("fetch %s: bad next link %q: %w", kind, next, err)
			}
			u := base.ResolveReference(ref)
			if u.Host != base.Host {
				return nil, fmt.Errorf("fetch %s: the next page is on another host (%s): refused, the credentials stay with %s", kind, u.Host, base.Host)
			}
			data, err := get(ctx, client, u.String(), o.Username, o.Password)
			if err != nil {
				return nil, fmt.Errorf("fetch %s: %w", kind, err)
			}
			if err := e.Add(u.Path, kind, data); err != nil {
				return nil, err
			}
			var lr listResponse
			_ = json.Unmarshal(data, &lr)
			next = ""
			if lr.Meta.Next != nil {
				next = *lr.Meta.Next
			}
		}
	}
	return e, nil
}

func get(ctx context.Context, c *http.Client, u, user, pass string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: the Management Node refused the credentials (an administrator account with API access is needed)", req.URL.Path, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: 404: this Management Node has no such object (One-Touch Join needs Pexip Infinity v23 or later)", req.URL.Path)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return data, nil
}
