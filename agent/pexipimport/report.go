package pexipimport

import (
	"fmt"
	"sort"
	"strings"
)

// Report is what an import did: what was carried over, what has no equivalent in otj-edge
// (and why), what the admin must decide, and the environment variables the written config
// expects its secrets in.
type Report struct {
	Imported  []string
	Unmapped  []Item // fields with no equivalent
	Decisions []Item // things the admin must choose or supply
	Warnings  []Item // templates or regexes kept commented out
	Secrets   []string
	KeyFiles  []string // files the written config reads that the export cannot provide
}

// Item is one line of the report about a field of a Pexip object.
type Item struct {
	Object string // e.g. mjx_endpoint "Boardroom"
	Field  string // "" when about the whole object
	Msg    string
}

func (i Item) String() string {
	if i.Field == "" {
		return i.Object + ": " + i.Msg
	}
	return i.Object + " " + i.Field + ": " + i.Msg
}

func label(o *Object) string { return fmt.Sprintf("%s %q", o.Kind, o.Name()) }

func (r *Report) imported(format string, args ...any) {
	r.Imported = append(r.Imported, fmt.Sprintf(format, args...))
}
func (r *Report) unmapped(o *Object, field, msg string) {
	o.used[field] = true
	r.Unmapped = append(r.Unmapped, Item{label(o), field, msg})
}
func (r *Report) decide(o *Object, field, format string, args ...any) {
	r.Decisions = append(r.Decisions, Item{label(o), field, fmt.Sprintf(format, args...)})
}
func (r *Report) warn(o *Object, field, format string, args ...any) {
	r.Warnings = append(r.Warnings, Item{label(o), field, fmt.Sprintf(format, args...)})
}

// String is the report as the command prints it.
func (r *Report) String() string {
	var b strings.Builder
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s (%d):\n", title, len(lines))
		for _, l := range lines {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	items := func(list []Item) []string {
		var out []string
		for _, i := range list {
			out = append(out, i.String())
		}
		return out
	}
	section("Imported", r.Imported)
	section("No equivalent in otj-edge", items(r.Unmapped))
	section("Needs a decision", items(r.Decisions))
	section("Kept commented out", items(r.Warnings))
	secrets := append([]string(nil), r.Secrets...)
	sort.Strings(secrets)
	if len(secrets) > 0 {
		fmt.Fprintf(&b, "Secrets: the config reads these environment variables (set them, or replace each ${…} with a *_file key):\n")
		for _, s := range secrets {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	if len(r.KeyFiles) > 0 {
		fmt.Fprintf(&b, "Key files: the config reads these files, relative to its own directory (save them there, mode 600):\n")
		for _, f := range r.KeyFiles {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	return b.String()
}
