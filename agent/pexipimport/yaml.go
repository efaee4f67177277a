package pexipimport

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// block is a piece of YAML being written: lines with their indentation. A block that could not
// load (a refused rule type, an untranslatable template, a profile without its integration) is
// written commented out, whole, so the admin sees what it would be.
type block struct {
	lines []string
}

func (b *block) comment(indent int, format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		b.lines = append(b.lines, strings.Repeat(" ", indent)+"# "+l)
	}
}

// kv writes key: value; a comment, when given, follows on the same line.
func (b *block) kv(indent int, key, value, comment string) {
	l := strings.Repeat(" ", indent) + key + ":"
	if value != "" {
		l += " " + value
	}
	if comment != "" {
		l += "  # " + comment
	}
	b.lines = append(b.lines, l)
}

func (b *block) raw(line string) { b.lines = append(b.lines, line) }

// render returns the block's text; commented prefixes each line (already a comment or not)
// with "# ", keeping indentation readable.
func (b *block) render(commented bool) string {
	var sb strings.Builder
	for _, l := range b.lines {
		if commented {
			if strings.TrimSpace(l) == "" {
				sb.WriteString("#\n")
				continue
			}
			sb.WriteString("# " + l + "\n")
			continue
		}
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

// yq writes s as a YAML scalar that reads back as exactly s: plain when safe, otherwise
// quoted on one line (templates and regexes keep their backslashes and braces).
func yq(s string) string {
	out, err := yaml.Marshal(s)
	str := strings.TrimSuffix(string(out), "\n")
	if err == nil && !strings.Contains(str, "\n") && !strings.HasPrefix(str, "|") && !strings.HasPrefix(str, ">") {
		return str
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
	out, _ = yaml.Marshal(n)
	return strings.TrimSuffix(string(out), "\n")
}
