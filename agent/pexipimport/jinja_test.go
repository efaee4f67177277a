package pexipimport

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otj-edge/otj-edge/sync/rules"
)

func TestTranslateJinja(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"{{ organizer_name }}", "{{ .Organizer }}"},
		{"{{calendar_event.subject|lower}}", "{{ lower .Subject }}"},
		{"{{ subject|upper|replace('A', 'B') }}", `{{ replace "A" "B" (upper .Subject) }}`},
		{`{{ subject|default("Meeting")|trim }}`, `{{ trim (default "Meeting" .Subject) }}`},
		{"{{ subject|d('x') }}", `{{ default "x" .Subject }}`},
		{"{% if private %}P{% elif subject == 'x' %}X{% else %}{{ subject }}{% endif %}",
			`{{ if .Private }}P{{ else if eq .Subject "x" }}X{{ else }}{{ .Subject }}{{ end }}`},
		{"{% if not private %}a{% endif %}", "{{ if not .Private }}a{{ end }}"},
		{"{% if 'VMR' in body %}a{% endif %}", `{{ if contains "VMR" .Body }}a{{ end }}`},
		{"{%- if location != '' -%} {{ location }} {%- endif %}", `{{- if ne .Location "" -}} {{ .Location }} {{- end }}`},
		{"{# a comment #}x", "x"},
	} {
		got, err := TranslateJinja(c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
		_, err = rules.ParseTemplate("t", got)
		require.NoError(t, err, "the translation of %s parses as otj-edge's template", c.in)
	}
	for _, c := range []struct {
		in   string
		line int
		msg  string
	}{
		{"a\n{% for x in y %}{{ x }}{% endfor %}", 2, "{% for %} has no translation"},
		{"{{ subject|title }}", 1, `filter "title" has no translation`},
		{"ok\nok\n{{ attendees }}", 3, `variable "attendees" has no equivalent`},
		{"{% if a > 1 %}x{% endif %}", 1, "no translation"},
		{"{% if private %}x", 1, "without {% endif %}"},
		{"{{ subject", 1, "unclosed {{"},
	} {
		_, err := TranslateJinja(c.in)
		var te *TranslateError
		require.ErrorAs(t, err, &te, c.in)
		require.Equal(t, c.line, te.Line, c.in)
		require.Contains(t, te.Msg, c.msg, c.in)
	}
}

func TestPythonRegex(t *testing.T) {
	m, r, err := pyRegex(`(?P<id>\d+)@(\w+)`, `\g<id>.\2@x.com $1`)
	require.NoError(t, err)
	require.Equal(t, `(?P<id>\d+)@(\w+)`, m)
	require.Equal(t, `${id}.${2}@x.com $$1`, r)
	_, _, err = pyRegex(`(a)\1`, "")
	require.ErrorContains(t, err, "not valid RE2")
}
