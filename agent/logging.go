package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
)

// NewLogger builds the process logger: text or JSON on w (stderr; journald or the service
// manager collects it). secrets are scrubbed from every message and attribute as a last line
// of defence (config.Secret already prints as [redacted]; this catches a secret that reached
// a string some other way, e.g. inside a library's error). mirror, when set, also receives
// warnings and errors (the Windows event log).
func NewLogger(w io.Writer, format, level string, secrets []string, mirror func(slog.Level, string)) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated by config; the zero value is info
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(&scrubHandler{next: h, secrets: usable(secrets), mirror: mirror})
}

// SecretsOf lists every secret value in the config (for scrubbing): config.Secrets walks the
// config by reflection, so a secret added to any section is scrubbed without a change here.
func SecretsOf(c *config.Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range c.Secrets() {
		if v := f.Secret.Value(); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// usable drops secrets too short to scrub without mangling ordinary words.
func usable(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

type scrubHandler struct {
	next    slog.Handler
	secrets []string
	mirror  func(slog.Level, string)
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scrubHandler) scrub(s string) string {
	for _, sec := range h.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, config.Redacted)
		}
	}
	return s
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if len(h.secrets) > 0 {
			if s := fmt.Sprint(v.Any()); h.scrub(s) != s {
				return slog.String(a.Key, h.scrub(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
	var text strings.Builder
	text.WriteString(out.Message)
	r.Attrs(func(a slog.Attr) bool {
		a = h.attr(a)
		out.AddAttrs(a)
		if h.mirror != nil && r.Level >= slog.LevelWarn {
			fmt.Fprintf(&text, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	if h.mirror != nil && r.Level >= slog.LevelWarn {
		h.mirror(r.Level, text.String())
	}
	return h.next.Handle(ctx, out)
}

func (h *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &scrubHandler{next: h.next.WithAttrs(clean), secrets: h.secrets, mirror: h.mirror}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{next: h.next.WithGroup(name), secrets: h.secrets, mirror: h.mirror}
}
