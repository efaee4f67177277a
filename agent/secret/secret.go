// Package secret is the credential type every layer may hold: the config loader fills it, the
// leaves (sync sources, device drivers, the status page) take it in their Options, and none of
// them can print it by accident. Find lists the secrets inside any value by reflection, so the
// log scrubber and the parts' restart keys cover a secret the day it is added to the config.
//
// It is a leaf of the kit (with agent/clock and agent/health): it imports no project package.
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Redacted is what a Secret prints as everywhere: logs, JSON, YAML, fmt.
const Redacted = "[redacted]"

// Secret is a credential. It never prints its value: String, fmt verbs, slog, JSON and YAML all
// show "[redacted]"; only Value returns it.
type Secret struct {
	value string
}

// New wraps a value.
func New(v string) Secret { return Secret{value: v} }

// Value is the secret itself. Call it only where the secret is used.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s.value != "" }

// String hides the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return Redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// Format hides the value from every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML hides the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a scalar string.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret must be a string", n.Line)}}
	}
	s.value = n.Value
	return nil
}

// Field is one secret Find found: where it sits and the secret.
type Field struct {
	// Path names the field the way the config file does where the struct says (its yaml tag),
	// e.g. "endpoints[2].calendar_password"; otherwise by the Go field name.
	Path   string
	Secret Secret
}

// Find lists every Secret inside v that is set, in field order: it walks exported struct
// fields, pointers, interfaces, slices, arrays and maps (in key order). Values whose type
// cannot hold a Secret (certificates, keys, times) are skipped without being walked.
func Find(v any) []Field {
	var out []Field
	walk(reflect.ValueOf(v), "", &out, map[uintptr]bool{})
	return out
}

// Values is Find's secrets' values, each once, in Find's order.
func Values(v any) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range Find(v) {
		if !seen[f.Secret.value] {
			seen[f.Secret.value] = true
			out = append(out, f.Secret.value)
		}
	}
	return out
}

var secretType = reflect.TypeFor[Secret]()

func walk(v reflect.Value, path string, out *[]Field, seen map[uintptr]bool) {
	if !v.IsValid() {
		return
	}
	if v.Kind() != reflect.Interface && !mayHold(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true // a cycle ends here
		walk(v.Elem(), path, out, seen)
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, out, seen)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			// Read through the field, not Interface: a Secret promoted from an unexported
			// embedded struct is still the config's, and Interface refuses those.
			if s := New(v.Field(0).String()); s.IsSet() {
				*out = append(*out, Field{Path: path, Secret: s})
			}
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !walked(f) {
				continue
			}
			name := fieldName(f)
			switch {
			case name == "":
				walk(v.Field(i), path, out, seen) // embedded or inline: its keys are its parent's
			case path == "":
				walk(v.Field(i), name, out, seen)
			default:
				walk(v.Field(i), path+"."+name, out, seen)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walk(v.Index(i), path+"["+strconv.Itoa(i)+"]", out, seen)
		}
	case reflect.Map:
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(k.Interface())
		}
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		// Sorted, so a key built from Find's output does not change with map order.
		sort.Slice(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
		for _, i := range idx {
			walk(v.MapIndex(keys[i]), path+"["+strconv.Quote(names[i])+"]", out, seen)
		}
	}
}

// walked says whether Find looks into a struct field: exported ones, and embedded structs
// whose exported fields are promoted even when the embedded type's name is not.
func walked(f reflect.StructField) bool {
	return f.IsExported() || (f.Anonymous && f.Type.Kind() == reflect.Struct)
}

// fieldName is the field's YAML key, its Go name without one, and "" for an embedded or
// inline field (whose keys belong to the enclosing struct).
func fieldName(f reflect.StructField) string {
	tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if f.Anonymous || strings.Contains(","+opts+",", ",inline,") {
		return ""
	}
	if tag != "" && tag != "-" {
		return tag
	}
	return f.Name
}

// holds caches mayHold per type: a config is walked on every reload and log set-up, and its
// certificates and keys are large.
var holds sync.Map // reflect.Type → bool

// mayHold reports whether a value of type t can contain a Secret. Interfaces can hold anything,
// so they answer true and their dynamic value is judged when walked.
func mayHold(t reflect.Type) bool {
	if b, ok := holds.Load(t); ok {
		return b.(bool)
	}
	b := mayHoldIn(t, map[reflect.Type]bool{})
	holds.Store(t, b)
	return b
}

func mayHoldIn(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if t == secretType {
		return true
	}
	if visiting[t] {
		return false // a recursive type holds a Secret only through some other field
	}
	visiting[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldIn(t.Elem(), visiting)
	case reflect.Map:
		return mayHoldIn(t.Elem(), visiting)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); walked(f) && mayHoldIn(f.Type, visiting) {
				return true
			}
		}
	}
	return false
}
