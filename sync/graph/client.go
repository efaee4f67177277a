package graph

// This file is the only one that knows msgraph-sdk-go, kiota and azidentity. The rest of the
// package sees Graph through api.send/api.sendBatch and plain results.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/otj-edge/otj-edge/sync/graph/graphconf"
)

// requestTimeout bounds one Graph request (or batch).
const requestTimeout = 60 * time.Second

// masterFields are the properties fetched for a series master: everything an occurrence stub
// lacks that the meeting processor and the diagnosis read.
var masterFields = []string{"id", "type", "subject", "body", "bodyPreview", "organizer", "attendees", "location", "locations",
	"isOnlineMeeting", "onlineMeetingProvider", "onlineMeeting", "sensitivity", "showAs", "isCancelled", "isAllDay", "iCalUId",
	"changeKey", "lastModifiedDateTime", "responseStatus", "recurrence", "start", "end", "importance", "categories"}

// reqKind is what a request asks Graph for.
type reqKind int

const (
	kindDeltaStart reqKind = iota // calendarView/delta over a window (a new round)
	kindLink                      // a nextLink or deltaLink
	kindMaster                    // GET events/{id} with $select (a series master)
	kindProbe                     // calendarView over the next 24 h, ids only (otj-edge check)
	kindView                      // calendarView over a window, by start (delegated rounds)
)

// reqSpec describes one Graph request.
type reqSpec struct {
	kind       reqKind
	mailbox    string
	link       string
	start, end time.Time
	eventID    string
	// linger: a routine poll, which may wait for others to share a $batch (dispatch.go).
	linger bool
}

// result is Graph's answer to one request (or batch part), or why there is none.
type result struct {
	status     int
	body       []byte
	code       string // Graph error code (error.code)
	message    string
	retryAfter time.Duration // -1: no Retry-After header
	err        error         // no answer: token, transport, budget, context
	sent       bool          // the request went to Graph (it counts against the budget)
	gen        int           // the client generation (token) it was sent with
	account    string        // delegated: the signed-in account it was read as ("" app-only)
	checked    bool          // body is valid JSON, checked with the $batch answer it came in
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// api is the Graph client of one integration: azidentity client credentials, the msgraph-sdk-go
// request adapter with the SDK's middleware (its blocking retry handler disabled: the scheduler
// reschedules rooms itself), the allowed-hosts list set to graph_url's host, and a middleware
// that refuses to send a request without a token instead of letting the SDK drop it silently.
type api struct {
	in        Integration
	base      *http.Client
	graphURL  string // https://host[:port]/v1.0
	graphHost string // host without port
	scope     string

	mu      sync.Mutex
	cred    azcore.TokenCredential
	adapter *msgraphsdk.GraphRequestAdapter
	gen     int // bumped by refresh
}

// baseClient is the HTTP client under the SDK: the system roots plus ca_file, HTTP/2, timeouts.
func baseClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates in it", caFile)
		}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}

// authority derives the tenant and Entra host from token_url when the config loader has not.
func authority(in Integration) (tenant, host string, err error) {
	if in.Tenant != "" && in.AuthorityHost != "" {
		return in.Tenant, in.AuthorityHost, nil
	}
	return graphconf.ParseTokenURL(in.TokenURL)
}

func newAPI(in Integration, base *http.Client) (*api, error) {
	if in.GraphURL == "" {
		in.GraphURL = graphconf.DefaultGraphURL
	}
	u, err := url.Parse(in.GraphURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("graph_url %q is not an https URL", in.GraphURL)
	}
	tenant, host, err := authority(in)
	if err != nil {
		return nil, err
	}
	in.Tenant, in.AuthorityHost = tenant, host
	a := &api{in: in, base: base, graphURL: strings.TrimSuffix(in.GraphURL, "/"), graphHost: u.Hostname(),
		scope: u.Scheme + "://" + u.Host + "/.default"}
	if err := a.refresh(); err != nil {
		return nil, err
	}
	return a, nil
}

// newCredential is the integration's client credential: its certificate when it has one
// (client_certificate_file, read and checked by the config loader), else its secret.
func newCredential(in Integration, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	if in.Delegated() {
		return newDelegatedCred(in, opts.Transport), nil
	}
	if in.UsesCertificate() {
		if len(in.ClientCertificates) == 0 || in.ClientKey == nil {
			return nil, fmt.Errorf("client_certificate_file %s was not read", in.ClientCertificateFile)
		}
		return azidentity.NewClientCertificateCredential(in.Tenant, in.ClientID, in.ClientCertificates, in.ClientKey,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	}
	return azidentity.NewClientSecretCredential(in.Tenant, in.ClientID, in.ClientSecret.Value(),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
}

// refresh builds a new credential and client: the only way to make azidentity forget a token
// Graph rejected (README "Calendar sync (Microsoft Graph)": refresh once, then report).
func (a *api) refresh() error {
	cred, err := newCredential(a.in, azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: a.in.AuthorityHost},
		Transport: a.base,
		// One attempt: rooms are rescheduled by the syncer, never blocked here.
		Retry: policy.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		return fmt.Errorf("client credentials: %w", err)
	}
	if !a.in.Delegated() {
		cred = newTokenCache(cred, time.Now)
	}
	auth, err := graphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{a.scope}, []string{a.graphHost})
	if err != nil {
		return fmt.Errorf("graph authentication: %w", err)
	}
	registerSerializers.Do(func() {
		// What the SDK's GraphServiceClient registers: JSON (Graph's answers and errors) and
		// text, for reading and writing.
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return jsonserialization.NewJsonSerializationWriterFactory()
		})
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return textserialization.NewTextSerializationWriterFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return jsonserialization.NewJsonParseNodeFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory {
			return textserialization.NewTextParseNodeFactory()
		})
	})
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, a.sdkHTTPClient())
	if err != nil {
		return fmt.Errorf("graph adapter: %w", err)
	}
	adapter.SetBaseUrl(a.graphURL)
	a.mu.Lock()
	a.cred, a.adapter = cred, adapter
	a.gen++
	a.mu.Unlock()
	return nil
}

// sdkHTTPClient is the SDK's default middleware over our base transport, without the handlers
// that do nothing for our requests, and with a final guard that the token is there. Each
// handler opens a tracing span and wraps the request on every call (about 15 % of the SDK's
// allocations per request at tens of requests a second), so the idle ones are left out:
//   - retry: the syncer owns retries, Retry-After and the budget (a retry here would spend
//     requests behind its back), so the handler was told never to retry;
//   - compression: the SDK gzips every request body, even a GET's empty one (a fresh ~1 MB
//     deflate state per request, the largest allocator at steady state, for bodies of a few
//     hundred bytes); Graph takes them plain, and answers are still compressed (net/http
//     asks for gzip);
//   - headers inspection: only acts when a request carries its option, ours never do;
//   - URL replace: rewrites the SDK's "/users/me-token-to-replace" placeholder to /me, a path
//     we never build.
//
// Kept: Graph's telemetry header (SdkVersion), redirects (the client below follows none), the
// query parameter name decoding and the User-Agent.
func (a *api) sdkHTTPClient() *http.Client {
	opts := msgraphsdk.GetDefaultClientOptions()
	var mws []khttp.Middleware
	for _, m := range msgraphcore.GetDefaultMiddlewaresWithOptions(&opts) {
		switch m.(type) {
		case *khttp.RetryHandler, *khttp.CompressionHandler, *khttp.HeadersInspectionHandler, *khttp.UrlReplaceHandler:
			continue
		}
		mws = append(mws, m)
	}
	mws = append(mws, requireToken{}, knownLength{})
	return &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(a.base.Transport, mws...),
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errNoToken is what requireToken returns.
var errNoToken = errors.New("refusing to call Graph without an access token (the host is not in the SDK's allowed hosts)")

// requireToken fails a request that reaches the network without an Authorization header: the
// SDK's token provider silently sends none to hosts outside its allowed list.
type requireToken struct{}

func (requireToken) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		return nil, errNoToken
	}
	return p.Next(req, i)
}

// knownLength gives a request the length of its body. kiota sets the body (a bytes.Reader
// behind its NopCloser) and no length, and for a body of unknown length net/http's HTTP/2
// client takes a scratch buffer as large as the server's frame size allows, up to 512 KiB
// (graphsim, a Go server, allows 1 MiB), for every request with a body: each $batch and
// getSchedule. Pooled only until the next collection, those were 58 MB of the agent's
// allocations by 45 s after a 1,000-room cold sync, and 1.2 MB of its live heap then (issue
// 22). With the length known, the buffer is the body's size, and the request says how long it
// is instead of streaming.
type knownLength struct{}

func (knownLength) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	if req.ContentLength == 0 && req.Body != nil && req.Body != http.NoBody {
		if s, ok := req.Body.(io.Seeker); ok {
			n, err := bodyLength(s)
			if err != nil {
				return nil, fmt.Errorf("measure the request body: %w", err)
			}
			req.ContentLength = n
		}
	}
	return p.Next(req, i)
}

// bodyLength is what is left to read of s, which is left where it was.
func bodyLength(s io.Seeker) (int64, error) {
	at, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(at, io.SeekStart); err != nil {
		return 0, err
	}
	return end - at, nil
}

func (a *api) current() (*msgraphsdk.GraphRequestAdapter, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.adapter, a.gen
}

// generation is the current client generation.
func (a *api) generation() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// token fetches an access token (otj-edge check; the SDK fetches its own for requests).
func (a *api) token(ctx context.Context) error {
	a.mu.Lock()
	cred := a.cred
	a.mu.Unlock()
	_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}})
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return &tokenError{cause: err, f: tokenFailure(authErr, a.secrets()...)}
	}
	return err
}

// secrets are the credential values that nothing read from the token endpoint may repeat.
func (a *api) secrets() []string {
	if v := a.in.ClientSecret.Value(); v != "" {
		return []string{v}
	}
	return nil
}

// checkLink makes sure a link from Graph points at graph_url, so the token goes with it.
func (a *api) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Hostname(), a.graphHost) {
		return fmt.Errorf("Graph returned a link outside graph_url (%s): %.120s", a.graphURL, link)
	}
	return nil
}

// fromGraphURL reports whether a stored link (deltaLink, nextLink) was issued under this
// graph_url: scheme, host, port and version path. After graph_url changes (another cloud,
// another proxy) a stored link points elsewhere and only a full resync can replace it.
func (a *api) fromGraphURL(link string) bool {
	u, err := url.Parse(link)
	g, gerr := url.Parse(a.graphURL)
	if err != nil || gerr != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, g.Scheme) && strings.EqualFold(u.Host, g.Host) &&
		strings.HasPrefix(u.Path, strings.TrimSuffix(g.Path, "/")+"/")
}

// addPreferHeaders adds the Prefer headers every calendar request carries (straight into the
// request's headers: building a header set to copy in cost a request's worth of maps).
func addPreferHeaders(h *abstractions.RequestHeaders) {
	h.Add("Prefer", `outlook.timezone="UTC"`)
	h.Add("Prefer", "odata.maxpagesize=100")
}

// preferHeaders are those headers as a set (requests_test.go hands them to the SDK's
// generated builders, which requestInfo's requests must equal).
func preferHeaders() *abstractions.RequestHeaders {
	h := abstractions.NewRequestHeaders()
	addPreferHeaders(h)
	return h
}

// registerSerializers registers kiota's serializers once per process.
var registerSerializers sync.Once

// URL templates of the msgraph-sdk-go request builders this package uses (users package,
// v1.89.0), so requests are built exactly as the SDK builds them. The generated builders are
// not used: referring to them makes the linker keep the SDK's whole model (every exported
// method of every type stays once a program calls reflect's MethodByName, as text/template
// and html/template do), which took the binary from about 15 MB to 125 MB.
const (
	deltaTemplate = "{+baseurl}/users/{user%2Did}/calendarView/delta()?endDateTime={endDateTime}&startDateTime={startDateTime}{&%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}"
	eventTemplate = "{+baseurl}/users/{user%2Did}/events/{event%2Did}{?%24expand,%24select}"
	viewTemplate  = "{+baseurl}/users/{user%2Did}/calendarView?endDateTime={endDateTime}&startDateTime={startDateTime}{&%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}"
)

// Query parameters, tagged the way the SDK's generated parameter structs are.
type (
	windowQuery struct {
		EndDateTime   *string  `uriparametername:"endDateTime"`
		StartDateTime *string  `uriparametername:"startDateTime"`
		Select        []string `uriparametername:"%24select"`
		Top           *int32   `uriparametername:"%24top"`
		Orderby       []string `uriparametername:"%24orderby"`
	}
	selectQuery struct {
		Select []string `uriparametername:"%24select"`
	}
)

// requestInfo builds the SDK request for spec.
func (a *api) requestInfo(_ context.Context, spec reqSpec) (*abstractions.RequestInformation, error) {
	get := func(template string, path map[string]string, query any) *abstractions.RequestInformation {
		ri := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.GET, template, path)
		if query != nil {
			ri.AddQueryParameters(query)
		}
		addPreferHeaders(ri.Headers)
		ri.Headers.TryAdd("Accept", "application/json")
		return ri
	}
	user := func() map[string]string { return map[string]string{"user%2Did": spec.mailbox} }
	switch spec.kind {
	case kindDeltaStart:
		start, end := spec.start.UTC().Format(time.RFC3339), spec.end.UTC().Format(time.RFC3339)
		return get(deltaTemplate, user(), windowQuery{StartDateTime: &start, EndDateTime: &end}), nil
	case kindLink:
		if err := a.checkLink(spec.link); err != nil {
			return nil, err
		}
		// The SDK's WithUrl: the link is followed as is (there are no $skiptoken/$deltatoken
		// query parameters to set).
		return get(deltaTemplate, map[string]string{"request-raw-url": spec.link}, nil), nil
	case kindMaster:
		return get(eventTemplate, map[string]string{"user%2Did": spec.mailbox, "event%2Did": spec.eventID}, selectQuery{Select: masterFields}), nil
	case kindProbe:
		start, end := spec.start.UTC().Format(time.RFC3339), spec.end.UTC().Format(time.RFC3339)
		top := int32(100)
		return get(viewTemplate, user(), windowQuery{StartDateTime: &start, EndDateTime: &end, Top: &top, Select: []string{"id", "start", "end"}}), nil
	case kindView:
		start, end := spec.start.UTC().Format(time.RFC3339), spec.end.UTC().Format(time.RFC3339)
		top := int32(viewTop)
		return get(viewTemplate, user(), windowQuery{StartDateTime: &start, EndDateTime: &end, Top: &top, Orderby: []string{"start/dateTime"}}), nil
	}
	return nil, fmt.Errorf("unknown request kind %d", spec.kind)
}

var errorMapping = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// send runs one request through the SDK and returns Graph's answer, body untouched.
func (a *api) send(ctx context.Context, spec reqSpec) result {
	ri, err := a.requestInfo(ctx, spec)
	if err != nil {
		return result{err: err, retryAfter: -1}
	}
	adapter, gen := a.current()
	return a.sendBytes(ctx, adapter, gen, ri)
}

// sendBytes sends a request through the adapter of generation gen and returns Graph's answer
// as bytes, or the error mapped to a result (polls and the change probe alike).
func (a *api) sendBytes(ctx context.Context, adapter *msgraphsdk.GraphRequestAdapter, gen int, ri *abstractions.RequestInformation) result {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	v, err := adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		r := a.errorResult(err)
		r.gen, r.account = gen, a.account()
		return r
	}
	body, _ := v.([]byte)
	return result{status: http.StatusOK, body: body, retryAfter: -1, sent: true, gen: gen, account: a.account()}
}

// errorResult turns an SDK error into a result: Graph's status and error code when Graph
// answered, the error itself when it did not.
func (a *api) errorResult(err error) result {
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		r := result{status: odata.ResponseStatusCode, retryAfter: -1, sent: true}
		if e := odata.GetErrorEscaped(); e != nil {
			r.code, r.message = deref(e.GetCode()), deref(e.GetMessage())
		}
		if odata.ResponseHeaders != nil {
			r.retryAfter = parseRetryAfter(first(odata.ResponseHeaders.Get("Retry-After")))
		}
		return r
	}
	var apiErr *abstractions.ApiError
	if errors.As(err, &apiErr) && apiErr.ResponseStatusCode != 0 {
		r := result{status: apiErr.ResponseStatusCode, message: apiErr.Message, retryAfter: -1, sent: true}
		if apiErr.ResponseHeaders != nil {
			r.retryAfter = parseRetryAfter(first(apiErr.ResponseHeaders.Get("Retry-After")))
		}
		return r
	}
	var tokErr *tokenError
	if errors.As(err, &tokErr) { // the delegated credential's, already read
		return result{err: tokErr, retryAfter: -1}
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		// Read Entra's answer once, here: a batch hands the same error to every part.
		return result{err: &tokenError{cause: err, f: tokenFailure(authErr, a.secrets()...)}, retryAfter: -1}
	}
	// A transport error, a body that is not JSON, a cancelled context: the request may or may
	// not have reached Graph; count it as sent (the budget errs on the safe side).
	return result{err: err, retryAfter: -1, sent: !errors.Is(err, errNoToken)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseRetryAfter reads Retry-After as seconds (fractions allowed) or an HTTP date; -1 when
// absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return -1
}

// sendBatch sends up to 20 requests as one JSON batch (different mailboxes, at most 4 per
// mailbox) and returns each part's answer in order. A failure of the batch itself is every
// part's failure.
func (a *api) sendBatch(ctx context.Context, specs []reqSpec) []result {
	out := make([]result, len(specs))
	adapter, gen := a.current()
	batch := msgraphcore.NewBatchRequest(adapter)
	ids := make([]string, len(specs))
	for i, spec := range specs {
		ri, err := a.requestInfo(ctx, spec)
		if err == nil {
			var item msgraphcore.BatchItem
			if item, err = batch.AddBatchRequestStep(*ri); err == nil {
				ids[i] = deref(item.GetId())
				continue
			}
		}
		out[i] = result{err: err, retryAfter: -1}
	}
	// The SDK builds the batch (relative URLs, ids, headers); the answer is read here, raw,
	// rather than through kiota's JSON tree and back.
	ri := abstractions.NewRequestInformation()
	ri.Method = abstractions.POST
	ri.UrlTemplate = "{+baseurl}/$batch"
	ri.PathParameters["baseurl"] = adapter.GetBaseUrl()
	if err := ri.SetContentFromParsable(ctx, adapter, "application/json", batch); err != nil {
		for i := range out {
			if ids[i] != "" {
				out[i] = result{err: fmt.Errorf("build batch: %w", err), retryAfter: -1}
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	v, err := adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	var responses []batchResponse
	checked := false
	if err == nil {
		body, _ := v.([]byte)
		var uerr error
		if responses, checked, uerr = scanBatch(body); uerr != nil {
			err = fmt.Errorf("batch answer is not valid JSON: %w", uerr)
		}
	}
	if err != nil {
		r := a.errorResult(err)
		r.gen, r.account = gen, a.account()
		for i := range out {
			if ids[i] != "" {
				out[i] = r
			}
		}
		return out
	}
	byID := map[string]int{}
	for j, p := range responses {
		byID[p.ID] = j
	}
	for i, id := range ids {
		if id == "" {
			continue
		}
		j, ok := byID[id]
		if !ok {
			out[i] = result{err: errors.New("Graph's batch answer left this request out"), retryAfter: -1, sent: true, gen: gen}
			continue
		}
		p := responses[j]
		r := result{status: p.Status, retryAfter: -1, sent: true, gen: gen, account: a.account(), checked: checked}
		for k, v := range p.Headers {
			if strings.EqualFold(k, "Retry-After") {
				r.retryAfter = parseRetryAfter(v)
			}
		}
		if r.status >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(p.Body, &e)
			r.code, r.message = e.Error.Code, e.Error.Message
		} else {
			r.body = p.Body
		}
		out[i] = r
	}
	return out
}
