package web

import (
	"bytes"
	"net/http"
)

// metrics serves Options.Metrics (the Prometheus exposition) behind the same host check and
// authentication as every page and API call (secure). Its body goes through write like any
// other answer, so the secret scrubber is the last line of defence here too; that is why the
// exposition is asked for uncompressed (a scrubber cannot read gzip).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		s.fail(w, r, http.StatusNotFound, "no metrics here")
		return
	}
	r = r.Clone(r.Context())
	r.Header.Del("Accept-Encoding")
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	s.opts.Metrics.ServeHTTP(rec, r)
	s.write(w, rec.code, rec.header.Get("Content-Type"), rec.body.Bytes())
}

// recorder keeps a handler's answer for write.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
