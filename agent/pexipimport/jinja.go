package pexipimport

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Jinja2 → Go text/template, for the forms Pexip documents for One-Touch Join templates:
// variables of the calendar event, the filters lower, upper, trim, replace and default, and
// if/elif/else/endif on a variable, its negation, an equality or "in". Anything else (loops,
// set, macros, other filters, arithmetic) is refused with the line it is on, so the caller
// keeps the original commented out instead of guessing.

// jinjaVars maps the event variables Pexip's templates use to the fields otj-edge's templates
// offer (README "Template rules"). The prefixes calendar_event., event. and meeting. are
// accepted and dropped.
var jinjaVars = map[string]string{
	"subject":         ".Subject",
	"organizer_name":  ".Organizer",
	"organizer":       ".Organizer",
	"organiser_name":  ".Organizer",
	"organizer_email": ".OrganizerEmail",
	"organiser_email": ".OrganizerEmail",
	"location":        ".Location",
	"body":            ".Body",
	"description":     ".Body",
	"body_html":       ".BodyHTML",
	"join_url":        ".JoinURL",
	"start_time":      ".Start",
	"start":           ".Start",
	"end_time":        ".End",
	"end":             ".End",
	"private":         ".Private",
	"room":            ".Room",
	"room_email":      ".Room",
}

// TranslateError says which line of a template could not be translated and why.
type TranslateError struct {
	Line int
	Text string // the line as written
	Msg  string
}

func (e *TranslateError) Error() string {
	return fmt.Sprintf("line %d (%s): %s", e.Line, strings.TrimSpace(e.Text), e.Msg)
}

var jinjaTag = regexp.MustCompile(`(?s)\{\{(-?)(.*?)(-?)\}\}|\{%(-?)(.*?)(-?)%\}|\{#.*?#\}`)

// TranslateJinja translates a Jinja2 template into a Go text/template.
func TranslateJinja(src string) (string, error) {
	var b strings.Builder
	depth := 0
	last := 0
	for _, m := range jinjaTag.FindAllStringSubmatchIndex(src, -1) {
		b.WriteString(src[last:m[0]])
		last = m[1]
		line := strings.Count(src[:m[0]], "\n") + 1
		fail := func(format string, args ...any) error {
			return &TranslateError{Line: line, Text: lineAt(src, line), Msg: fmt.Sprintf(format, args...)}
		}
		tag := src[m[0]:m[1]]
		switch {
		case strings.HasPrefix(tag, "{#"):
			continue // a comment
		case m[4] >= 0: // {{ expr }}
			expr, err := jinjaExpr(src[m[4]:m[5]])
			if err != nil {
				return "", fail("%s", err)
			}
			b.WriteString("{{" + src[m[2]:m[3]] + " " + strings.TrimSuffix(strings.TrimPrefix(expr, "("), ")") + " " + src[m[6]:m[7]] + "}}")
		default: // {% stmt %}
			lt, rt := src[m[8]:m[9]], src[m[12]:m[13]]
			stmt := strings.TrimSpace(src[m[10]:m[11]])
			word, rest, _ := strings.Cut(stmt, " ")
			var out string
			switch word {
			case "if", "elif":
				cond, err := jinjaCond(rest)
				if err != nil {
					return "", fail("%s", err)
				}
				if word == "if" {
					depth++
					out = "if " + cond
				} else {
					if depth == 0 {
						return "", fail("elif without if")
					}
					out = "else if " + cond
				}
			case "else":
				if depth == 0 {
					return "", fail("else without if")
				}
				out = "else"
			case "endif":
				if depth == 0 {
					return "", fail("endif without if")
				}
				depth--
				out = "end"
			default:
				return "", fail("{%% %s %%} has no translation (only if/elif/else/endif are translated)", word)
			}
			b.WriteString("{{" + lt + " " + out + " " + rt + "}}")
		}
	}
	rest := src[last:]
	if i := strings.Index(rest, "{{"); i >= 0 {
		line := strings.Count(src[:last+i], "\n") + 1
		return "", &TranslateError{Line: line, Text: lineAt(src, line), Msg: "unclosed {{"}
	}
	if i := strings.Index(rest, "{%"); i >= 0 {
		line := strings.Count(src[:last+i], "\n") + 1
		return "", &TranslateError{Line: line, Text: lineAt(src, line), Msg: "unclosed {%"}
	}
	b.WriteString(rest)
	if depth != 0 {
		n := strings.Count(src, "\n") + 1
		return "", &TranslateError{Line: n, Text: lineAt(src, n), Msg: "{% if %} without {% endif %}"}
	}
	return b.String(), nil
}

func lineAt(src string, n int) string {
	lines := strings.Split(src, "\n")
	if n-1 < len(lines) {
		return lines[n-1]
	}
	return ""
}

// jinjaExpr translates var|filter(args)|… into a Go pipeline expression (parenthesised).
func jinjaExpr(s string) (string, error) {
	parts, err := splitTop(s, '|')
	if err != nil {
		return "", err
	}
	base, err := jinjaOperand(parts[0])
	if err != nil {
		return "", err
	}
	for _, f := range parts[1:] {
		f = strings.TrimSpace(f)
		name, argStr, hasArgs := strings.Cut(f, "(")
		name = strings.TrimSpace(name)
		var args []string
		if hasArgs {
			if !strings.HasSuffix(argStr, ")") {
				return "", fmt.Errorf("filter %q: unbalanced parentheses", f)
			}
			raw, err := splitTop(strings.TrimSuffix(argStr, ")"), ',')
			if err != nil {
				return "", err
			}
			for _, a := range raw {
				if strings.TrimSpace(a) == "" {
					continue
				}
				lit, err := jinjaOperand(a)
				if err != nil {
					return "", fmt.Errorf("filter %s: %w", name, err)
				}
				args = append(args, lit)
			}
		}
		want := map[string]int{"lower": 0, "upper": 0, "trim": 0, "replace": 2, "default": 1, "d": 1}
		n, ok := want[name]
		if !ok {
			return "", fmt.Errorf("filter %q has no translation (lower, upper, trim, replace, default)", name)
		}
		if len(args) != n {
			return "", fmt.Errorf("filter %s takes %d argument(s), has %d", name, n, len(args))
		}
		if name == "d" {
			name = "default"
		}
		base = "(" + strings.Join(append(append([]string{name}, args...), base), " ") + ")"
	}
	return base, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// jinjaOperand translates a variable or a string/number literal.
func jinjaOperand(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("empty expression")
	case s[0] == '"' || s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != s[0] {
			return "", fmt.Errorf("unterminated string %s", s)
		}
		inner := s[1 : len(s)-1]
		if strings.ContainsAny(inner, `\`) {
			return "", fmt.Errorf("escapes in string %s have no translation", s)
		}
		return strconv.Quote(inner), nil
	case s[0] >= '0' && s[0] <= '9':
		if _, err := strconv.Atoi(s); err != nil {
			return "", fmt.Errorf("%q is not a whole number", s)
		}
		return strconv.Quote(s), nil
	case identRE.MatchString(s):
		name := s
		for _, p := range []string{"calendar_event.", "event.", "meeting."} {
			name = strings.TrimPrefix(name, p)
		}
		if f, ok := jinjaVars[name]; ok {
			return f, nil
		}
		return "", fmt.Errorf("variable %q has no equivalent (known: subject, organizer_name, organizer_email, location, body, start_time, end_time, private, room)", s)
	}
	return "", fmt.Errorf("expression %q has no translation", s)
}

// jinjaCond translates an if condition: expr, not expr, a == b, a != b, a in b.
func jinjaCond(s string) (string, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "not "); ok {
		c, err := jinjaCond(rest)
		if err != nil {
			return "", err
		}
		return "not " + wrap(c), nil
	}
	for _, op := range []struct{ tok, fn string }{{"==", "eq"}, {"!=", "ne"}, {" in ", "in"}} {
		parts, err := splitTop(s, 0, op.tok)
		if err != nil {
			return "", err
		}
		if len(parts) == 1 {
			continue
		}
		if len(parts) != 2 {
			return "", fmt.Errorf("condition %q has no translation", s)
		}
		a, err := jinjaExpr(parts[0])
		if err != nil {
			return "", err
		}
		b, err := jinjaExpr(parts[1])
		if err != nil {
			return "", err
		}
		if op.fn == "in" {
			return "contains " + a + " " + b, nil
		}
		return op.fn + " " + a + " " + b, nil
	}
	if strings.ContainsAny(s, "<>()+*/%") || strings.Contains(s, " and ") || strings.Contains(s, " or ") {
		return "", fmt.Errorf("condition %q has no translation (a variable, not, ==, != or in)", s)
	}
	e, err := jinjaExpr(s)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimPrefix(e, "("), ")"), nil
}

func wrap(s string) string {
	if strings.ContainsRune(s, ' ') {
		return "(" + s + ")"
	}
	return s
}

// splitTop splits s at sep (a rune, or the string tok when sep is 0) outside quotes and
// parentheses.
func splitTop(s string, sep rune, tok ...string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced parentheses in %q", s)
			}
		case depth == 0 && sep != 0 && rune(c) == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		case depth == 0 && sep == 0 && strings.HasPrefix(s[i:], tok[0]):
			parts = append(parts, s[start:i])
			start = i + len(tok[0])
			i = start - 1
		}
	}
	if quote != 0 || depth != 0 {
		return nil, fmt.Errorf("unbalanced quotes or parentheses in %q", s)
	}
	return append(parts, s[start:]), nil
}
