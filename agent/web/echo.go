package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

// Echoes: what the client sent, shown back to it.
//
// Every answer is scrubbed of configured secrets on its way out (Server.write), the last line
// of defence against a secret that slipped into a status detail or an event. Scrubbing text
// the client just sent would turn that defence into an oracle: send a guess where the answer
// repeats it (a room name in a 404, an invite on the rules bench, an events filter) and
// "[redacted]" in place of the guess confirms it. So what the client sent, and what was worked
// out from it alone, never goes through the scrubber: a handler passes it through Server.echo,
// which puts an unguessable placeholder in its place; the body is rendered and scrubbed with
// the placeholders in it, and only then do the placeholders become the client's text, escaped
// for the body's format. The answer to a right guess and to a wrong one then differ only by
// the guess itself, and the client sees nothing it did not send. Everything the server holds
// (store rows, health, errors from the parts) is scrubbed exactly as before.
//
// An echo may only be placed in HTML text, a textarea, a quoted attribute value or a JSON
// string: the restored text is HTML-escaped or JSON-escaped, which is right for those
// contexts and no others (never in a URL, a script or a style).

// echoes is one request's table of placeholders and the client text they stand for.
type echoes struct {
	mu   sync.Mutex
	vals map[string]string
}

type echoKey struct{}

// echoWriter carries the request's echoes to Server.write, which sees only the writer.
type echoWriter struct {
	http.ResponseWriter
	e *echoes
}

func (w *echoWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withEchoes gives a request its table of echoes.
func withEchoes(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	e := &echoes{}
	return &echoWriter{ResponseWriter: w, e: e}, r.WithContext(context.WithValue(r.Context(), echoKey{}, e))
}

// echo stands in for text the client sent (or that was worked out from it alone) until the
// answer has been scrubbed; see the comment at the top of this file.
func (s *Server) echo(r *http.Request, v string) string {
	e, _ := r.Context().Value(echoKey{}).(*echoes)
	if e == nil || v == "" {
		return v
	}
	sc := s.scrubber()
	for range 8 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		ph := "otjecho" + hex.EncodeToString(b) + "x"
		// A placeholder the scrubber would touch (a secret made of a few hex digits) would
		// not survive to be replaced: draw another.
		if sc.touches(ph) {
			continue
		}
		e.mu.Lock()
		if e.vals == nil {
			e.vals = map[string]string{}
		}
		e.vals[ph] = v
		e.mu.Unlock()
		return ph
	}
	return v // scrubbed like the rest: safe, if less useful
}

// restore replaces the placeholders in a scrubbed body by the client's text, escaped for the
// body's content type.
func (e *echoes) restore(body []byte, contentType string) []byte {
	if e == nil {
		return body
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.vals) == 0 {
		return body
	}
	escape := template.HTMLEscapeString
	if strings.HasPrefix(contentType, "application/json") {
		escape = jsonStringContent
	}
	pairs := make([]string, 0, 2*len(e.vals))
	for ph, v := range e.vals {
		pairs = append(pairs, ph, escape(v))
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(body)))
}

// jsonStringContent is v as it appears between the quotes of a JSON string (with HTML
// characters escaped, as the API's encoder writes them).
func jsonStringContent(v string) string {
	b, _ := json.Marshal(v) // a string always encodes
	return string(b[1 : len(b)-1])
}

// echoesOf finds the request's echoes from the writer Server.write is given.
func echoesOf(w http.ResponseWriter) *echoes {
	for {
		switch x := w.(type) {
		case *echoWriter:
			return x.e
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// echoInput wraps the page handlers whose body repeats the client's input: the rules bench
// (the pasted invite, the result worked out from it alone, and an error about it) and the
// events page (its filter). The rules run over the invite and the profile's rules, which hold
// no secret, so nothing in that result can carry one the client did not send.
func (s *Server) echoInput(fn func(*http.Request) (*page, error)) func(*http.Request) (*page, error) {
	return func(r *http.Request) (*page, error) {
		p, err := fn(r)
		if p == nil {
			return p, err
		}
		switch b := p.Body.(type) {
		case rulesBody:
			b.Input.Invite = s.echo(r, b.Input.Invite)
			b.Input.Subject = s.echo(r, b.Input.Subject)
			b.Input.Location = s.echo(r, b.Input.Location)
			b.Error = s.echo(r, b.Error)
			if b.Outcome != nil {
				out := *b.Outcome
				out.Result.Number = s.echo(r, out.Result.Number)
				out.Result.Subject = s.echo(r, out.Result.Subject)
				out.Result.Reason = s.echo(r, out.Result.Reason)
				b.Outcome = &out
			}
			p.Body = b
		case eventsBody:
			b.Filter.Room = s.echo(r, b.Filter.Room)
			b.Filter.Endpoint = s.echo(r, b.Filter.Endpoint)
			p.Body = b
		}
		return p, err
	}
}

// noSuchRoom says that the room the client named is not configured, naming it as the client
// wrote it (echoed, see above) instead of through the scrubber.
func (s *Server) noSuchRoom(r *http.Request, room string, err error) error {
	if err == nil || !errors.Is(err, ErrNotFound) {
		return err
	}
	return errNotFound("room " + s.echo(r, strings.ToLower(strings.TrimSpace(room))) + ": not found")
}
