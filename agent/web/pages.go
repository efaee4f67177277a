package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/health"
	"github.com/otj-edge/otj-edge/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds one template set per page: the layout plus that page's "content".
var pages = parsePages()

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"levelClass": levelClass,
		"roomURL":    func(mailbox string) string { return "/rooms/" + url.PathEscape(mailbox) },
		"pct":        pct,
		"join":       strings.Join,
		"plural":     plural,
		"human":      func(secs int64) string { return HumanDuration(time.Duration(secs) * time.Second) },
		"dict":       dict,
		"cpFix":      CalendarProcessingFix,
		"infoFlag":   InformationalFlag,
		"sentence":   Sentence,
		"int":        func(v int64) int { return int(v) },
		"int64":      func(f float64) int64 { return int64(f) },
		"deref": func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		},
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, f))
	}
	return out
}

// levelClass maps a health level, sync status or endpoint state to a CSS class.
func levelClass(s string) string {
	switch s {
	case health.OK, store.EndpointUp, MeetingJoinable, MeetingRunning: // store.RoomOK is "ok" too
		return "ok"
	case health.Warning, "warn", store.RoomPending, store.RoomThrottled, store.RoomTransient,
		store.EndpointNotPolling, store.EndpointDegraded, store.EndpointUnknown, store.EndpointWaiting:
		return "warn"
	case health.Error, store.RoomPolicyDenied, store.RoomNotFound, store.RoomNotRESTEnabled, store.RoomAuthFailed,
		store.EndpointDown, store.EndpointCertChanged, store.EndpointUnsupported: // EndpointAuthFailed = RoomAuthFailed
		return "err"
	}
	return "muted"
}

// Sentence capitalises the first letter.
func Sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func pct(part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	p := float64(part) * 100 / float64(whole)
	if p > 0 && p < 0.1 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", p)
}

// dict builds a map for passing several values to a sub-template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict needs key/value pairs")
	}
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("dict keys are strings")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// page is what the layout renders; Body is the page's own data.
type page struct {
	name    string
	Title   string
	Nav     string
	Site    string
	Version string
	Started time.Time
	Now     time.Time
	Loc     *time.Location
	Overall string
	Age     DataAge
	Refresh int // seconds between automatic reloads; 0: none
	// Migration shows the Migration link: an integration reads rooms in shadow.
	Migration bool
	// SignIn shows the Sign-in link: an integration signs in with a service account.
	SignIn bool
	Body   any
}

// Times as the page shows them, in the site's time zone.

// Clock is "15:04".
func (p *page) Clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(p.Loc).Format("15:04")
}

// Day is "Tue 10 Mar".
func (p *page) Day(t time.Time) string { return t.In(p.Loc).Format("Mon 2 Jan") }

// When is "15:04" today and "Tue 10 Mar 15:04" on other days.
func (p *page) When(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if p.sameDay(t, p.Now) {
		return p.Clock(t)
	}
	return t.In(p.Loc).Format("Mon 2 Jan 15:04")
}

// Stamp is "15:04:05" today and "Tue 10 Mar 15:04:05" on other days.
func (p *page) Stamp(t time.Time) string {
	if p.sameDay(t, p.Now) {
		return t.In(p.Loc).Format("15:04:05")
	}
	return t.In(p.Loc).Format("Mon 2 Jan 15:04:05")
}

// Span is a meeting's time: "14:00–15:00", with the day when it is not today.
func (p *page) Span(start, end time.Time) string {
	s := p.When(start) + "–" + p.Clock(end)
	if !p.sameDay(start, end) && !p.sameDay(start, end.Add(-time.Nanosecond)) {
		s = p.When(start) + " – " + end.In(p.Loc).Format("Mon 2 Jan 15:04")
	}
	return s
}

// Ago is "3 minutes ago", "in 5 minutes" or "never".
func (p *page) Ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := p.Now.Sub(t)
	if d < 0 {
		return "in " + HumanDuration(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	return HumanDuration(d) + " ago"
}

// Zone names the page's time zone: "CET +01:00".
func (p *page) Zone() string { return p.Now.In(p.Loc).Format("MST -07:00") }

func (p *page) sameDay(a, b time.Time) bool {
	a, b = a.In(p.Loc), b.In(p.Loc)
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// page adapts a page handler: it fills the layout's fields, renders to a buffer (so a
// template error never sends half a page), and scrubs secrets on the way out.
func (s *Server) page(fn func(r *http.Request) (*page, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := fn(r)
		if err != nil {
			code := statusOf(err)
			if code >= 500 {
				s.log.Error("status page failed", "path", r.URL.Path, "err", err)
			}
			p = &page{name: "error", Title: http.StatusText(code), Body: errorBody{Code: code, Message: err.Error()}}
			s.fillLayout(r, p)
			s.render(w, code, p)
			return
		}
		s.fillLayout(r, p)
		s.render(w, http.StatusOK, p)
	}
}

type errorBody struct {
	Code    int
	Message string
}

// fillLayout sets what every page shows in its header and footer.
func (s *Server) fillLayout(r *http.Request, p *page) {
	a := s.opts.Agent
	p.Now = s.clock.Now()
	p.Loc = s.opts.Location
	p.Version = a.Version()
	p.Started = a.Started()
	p.Overall = s.opts.Health.Overall()
	if cfg := a.Config(); cfg != nil {
		p.Site = cfg.Site
		p.Migration = len(cfg.Shadows()) > 0
	}
	p.SignIn = s.hasSignIns()
	if p.Age.Text == "" {
		rd := s.reader()
		if age, err := rd.StoredDataAge(r.Context()); err == nil {
			p.Age = age
		} else {
			p.Age = DataAge{Text: "calendar data age unknown: " + err.Error(), Stale: true}
		}
	}
}

func (s *Server) render(w http.ResponseWriter, code int, p *page) {
	t, ok := pages[p.name]
	if !ok {
		panic("web: no template for page " + p.name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("status page: render", "page", p.name, "err", err)
		s.fail(w, &http.Request{URL: &url.URL{Path: "/"}}, http.StatusInternalServerError, "the page could not be rendered: "+err.Error())
		return
	}
	s.write(w, code, "text/html; charset=utf-8", buf.Bytes())
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "no such file")
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	_, _ = w.Write(b)
}
