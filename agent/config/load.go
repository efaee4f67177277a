package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with the config, at a line of a file.
type Problem struct {
	File    string
	Line    int
	Msg     string
	Warning bool
}

func (p Problem) String() string {
	prefix := ""
	if p.Warning {
		prefix = "warning: "
	}
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s%s", p.File, p.Line, prefix, p.Msg)
	}
	return fmt.Sprintf("%s: %s%s", p.File, prefix, p.Msg)
}

// Error lists every problem that stops a config from loading, one per line as FILE:LINE: msg.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// IsConfigError reports whether err is (or wraps) a config *Error.
func IsConfigError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}

// Pos records where a YAML mapping and each of its keys are. The keys are a short list, not a
// map, and a known key's name is the field's tag, not a copy read from the file: a config is
// kept for as long as the agent runs, and at 1,000 endpoints a map per mapping was ~40 % of
// what the loaded config held.
type Pos struct {
	line int
	keys []keyLine
}

type keyLine struct {
	key  string
	line int
}

// find is the line of key (the last one written, as a map kept it).
func (p Pos) find(key string) (int, bool) {
	for i := len(p.keys) - 1; i >= 0; i-- {
		if p.keys[i].key == key {
			return p.keys[i].line, true
		}
	}
	return 0, false
}

// Line is the line of key, or of the mapping itself when key is "" or absent.
func (p Pos) Line(key string) int {
	if l, ok := p.find(key); ok && key != "" {
		return l
	}
	return p.line
}

// Has reports whether key was written in the file.
func (p Pos) Has(key string) bool { _, ok := p.find(key); return ok }

// Options change how Load reads the environment (tests).
type Options struct {
	// LookupEnv resolves ${NAME}; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Now is the time certificates' validity is checked against; default time.Now.
	Now func() time.Time
	// SkipSecrets is for commands that never use a secret (rules test): a ${ENV} that is not
	// set, or a secret file that cannot be read, leaves the secret empty instead of being an
	// error, and client certificate files are not read. A secret that is not given at all is
	// still an error, as the config is still wrong.
	SkipSecrets bool
}

// Load reads, decodes and validates the config at path. On failure the error is an *Error with
// every problem found.
func Load(path string) (*Config, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: "cannot read config: " + describeFileErr(err)}}}
	}
	return Parse(path, data, opts)
}

// Parse decodes and validates a config held in memory; file names it in messages and anchors
// relative paths.
func Parse(file string, data []byte, opts Options) (*Config, error) {
	l := &loader{file: file, env: opts.LookupEnv, now: opts.Now, skipSecrets: opts.SkipSecrets}
	if l.env == nil {
		l.env = os.LookupEnv
	}
	if l.now == nil {
		l.now = time.Now
	}
	cfg := &Config{File: file}
	if l.decode(data, cfg) {
		// Validate what decoded, so every problem shows at once; a field that failed to
		// decode is not reported a second time.
		l.decodeLines = map[int]bool{}
		for _, p := range l.errs {
			l.decodeLines[p.Line] = true
		}
		l.validate(cfg)
	}
	sortProblems(l.errs)
	sortProblems(l.warns)
	l.errs = capProblems(file, l.errs, l.droppedErrs, false)
	l.warns = capProblems(file, l.warns, l.droppedWarns, true)
	cfg.Warnings = l.warns
	if len(l.errs) > 0 {
		return nil, &Error{Problems: append(l.errs, l.warns...)}
	}
	return cfg, nil
}

type loader struct {
	file        string
	decodeLines map[int]bool // lines with decode errors, set once validation starts
	env         func(string) (string, bool)
	now         func() time.Time
	skipSecrets bool
	stateDir    string // the validated state_dir (integrations keep run-time tokens there)
	errs        []Problem
	warns       []Problem
	// droppedErrs and droppedWarns count problems found after maxKept (see capProblems).
	droppedErrs, droppedWarns int
}

func (l *loader) errorf(line int, format string, args ...any) {
	if l.decodeLines[line] {
		return
	}
	if len(l.errs) >= maxKept {
		l.droppedErrs++
		return
	}
	l.errs = append(l.errs, Problem{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(line int, format string, args ...any) {
	if len(l.warns) >= maxKept {
		l.droppedWarns++
		return
	}
	l.warns = append(l.warns, Problem{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// abs anchors a path from the config at the config file's directory.
func (l *loader) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(l.file), p)
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decode parses the YAML, reports syntax and type errors with their lines, and walks the tree
// to find unknown keys and record positions (yaml.v3's KnownFields does not reach into values
// decoded through UnmarshalYAML, and stops at the first error). It reports whether the document
// was a mapping that validation can look at.
func (l *loader) decode(data []byte, cfg *Config) bool {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			l.errorf(0, "the file is empty")
			return false
		}
		l.yamlError(err)
		return false
	}
	if !l.checkAliases(&root) {
		return false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errorf(extra.Line, "a config is one YAML document; found a second one")
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		l.errorf(doc.Line, "the config must be a mapping of keys (site:, endpoints:, ...)")
		return false
	}
	if err := doc.Decode(cfg); err != nil {
		l.yamlError(err)
	}
	for _, in := range cfg.Integrations {
		for _, p := range in.decodeProblems {
			l.yamlMsg(p)
		}
	}
	l.walk(doc, reflect.ValueOf(cfg).Elem(), "")
	return true
}

func (l *loader) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			l.yamlMsg(e)
		}
		return
	}
	l.yamlMsg(err.Error())
}

func (l *loader) yamlMsg(s string) {
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		l.errorf(n, "%s", friendlyYAML(m[2]))
		return
	}
	l.errorf(0, "%s", strings.TrimPrefix(s, "yaml: "))
}

var unmarshalMsg = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.*)$")

// friendlyYAML turns yaml.v3's Go-flavoured type errors into words an admin knows.
func friendlyYAML(s string) string {
	m := unmarshalMsg.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	kinds := map[string]string{"str": "text", "int": "a number", "bool": "true/false", "seq": "a list", "map": "a mapping", "float": "a number"}
	got := kinds[m[1]]
	if got == "" {
		got = m[1]
	}
	want := m[3]
	switch {
	case strings.Contains(want, "time.Duration"):
		want = "a duration such as 90s, 5m or 1h"
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case strings.Contains(want, "int"):
		want = "a whole number"
	case strings.Contains(want, "bool"):
		want = "true or false"
	case strings.Contains(want, "float"):
		want = "a number"
	case want == "string" || strings.Contains(want, "Secret"):
		want = "text"
	case strings.HasPrefix(want, "config.") || strings.HasPrefix(want, "rules."):
		want = "a mapping"
	}
	if m[2] == "" {
		return fmt.Sprintf("found %s, expected %s", got, want)
	}
	return fmt.Sprintf("%q is %s, expected %s", m[2], got, want)
}

var posType = reflect.TypeOf(Pos{})

// walk follows node and v together: it reports keys that v's struct does not have, and fills
// every Pos field with the mapping's line and its keys' lines.
func (l *loader) walk(node *yaml.Node, v reflect.Value, where string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch node.Kind {
	case yaml.MappingNode:
		if v.Kind() != reflect.Struct {
			return
		}
		fields := map[string]field{}
		open := collectFields(v, fields)
		var pos *Pos
		if p, ok := fields["\x00pos"]; ok {
			pos = p.v.Addr().Interface().(*Pos)
			pos.line = node.Line
			pos.keys = make([]keyLine, 0, len(node.Content)/2)
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, val := node.Content[i], node.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				if !open {
					l.errorf(k.Line, "unknown key %q%s%s", k.Value, inWhere(where), suggest(k.Value, fields))
				} else if pos != nil {
					pos.keys = append(pos.keys, keyLine{k.Value, k.Line})
				}
				continue
			}
			if pos != nil {
				pos.keys = append(pos.keys, keyLine{f.name, k.Line})
			}
			l.walk(val, f.v, k.Value)
		}
	case yaml.SequenceNode:
		if v.Kind() != reflect.Slice {
			return
		}
		for i, item := range node.Content {
			if i < v.Len() {
				l.walk(item, v.Index(i), where)
			}
		}
	case yaml.AliasNode:
		if node.Alias != nil {
			l.walk(node.Alias, v, where)
		}
	}
}

func inWhere(where string) string {
	if where == "" {
		return ""
	}
	return " in " + where
}

// collectFields maps YAML key → field value, following inline embedded structs and inline
// interfaces (an integration's settings: the struct its type decoded into). The Pos field is
// stored under a key no YAML can spell. It reports whether the mapping is open: an inline
// interface holds nothing (an integration of an unknown type, already reported), so its keys
// cannot be judged and none is called unknown.
func collectFields(v reflect.Value, out map[string]field) (open bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Type == posType {
			out["\x00pos"] = field{v: v.Field(i)}
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			f := v.Field(i)
			for f.Kind() == reflect.Interface || f.Kind() == reflect.Pointer {
				if f.IsNil() {
					break
				}
				f = f.Elem()
			}
			switch {
			case f.Kind() == reflect.Struct:
				open = collectFields(f, out) || open
			case f.Kind() == reflect.Interface || f.Kind() == reflect.Pointer: // nil
				open = true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = field{v: v.Field(i), name: name}
	}
	return open
}

// field is a struct field a YAML key decodes into, and the key's name as its tag spells it.
type field struct {
	v    reflect.Value
	name string
}

// suggest proposes the closest known key for a misspelt one.
func suggest(key string, fields map[string]field) string {
	best, bestD := "", 3
	for k := range fields {
		if strings.HasPrefix(k, "\x00") {
			continue
		}
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
