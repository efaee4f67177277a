// Package pexipimport turns a Pexip Infinity One-Touch Join configuration (the lists its
// configuration API returns for the mjx_* objects) into an otj-edge config and a report of
// what was carried over, what has no equivalent and what needs a decision. It reads files or
// fetches from a Management Node (fetch.go), maps objects one to one (mapping.go), translates
// the Jinja2 templates Pexip documents into Go templates (jinja.go) and writes commented YAML
// (write.go). It never needs the network except for the fetch, and never prints a secret.
package pexipimport

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Objects are the configuration API objects One-Touch Join is made of, in the order an import
// reads them.
var Objects = []string{
	"mjx_integration", "mjx_graph_deployment", "mjx_exchange_deployment", "mjx_google_deployment",
	"mjx_endpoint_group", "mjx_endpoint", "mjx_meeting_processing_rule",
}

// apiPrefix is the configuration API's path; every object's resource_uri starts with it.
const apiPrefix = "/api/admin/configuration/v1/"

// Object is one configuration object as the API returns it: its fields by name. Keeping the
// raw fields (not a struct) lets the report name every field the mapping did not use.
type Object struct {
	Kind   string         // e.g. mjx_endpoint
	Fields map[string]any // as decoded from JSON
	used   map[string]bool
}

// Export is a whole One-Touch Join configuration: objects by kind, each list in API order.
type Export struct {
	Objects map[string][]*Object
	byURI   map[string]*Object
}

// listResponse is the configuration API's list answer.
type listResponse struct {
	Meta struct {
		Next       *string `json:"next"`
		TotalCount int     `json:"total_count"`
	} `json:"meta"`
	Objects []map[string]any `json:"objects"`
}

// NewExport returns an empty export.
func NewExport() *Export {
	return &Export{Objects: map[string][]*Object{}, byURI: map[string]*Object{}}
}

// Add adds a list response's objects. kind may be "" when every object names its kind in its
// resource_uri (as the API writes it).
func (e *Export) Add(source, kind string, data []byte) error {
	var lr listResponse
	if err := json.Unmarshal(data, &lr); err != nil {
		return fmt.Errorf("%s: not a configuration API list ({\"meta\":…,\"objects\":[…]}): %w", source, err)
	}
	if lr.Objects == nil {
		return fmt.Errorf("%s: no \"objects\" list: export each object with GET %s<object>/", source, apiPrefix)
	}
	for i, f := range lr.Objects {
		k := kind
		uri, _ := f["resource_uri"].(string)
		if uk := kindOfURI(uri); uk != "" {
			k = uk
		}
		if k == "" {
			return fmt.Errorf("%s: objects[%d] has no resource_uri naming its object type; name the file <object>.json (e.g. mjx_endpoint.json)", source, i)
		}
		if !known(k) {
			return fmt.Errorf("%s: objects[%d] is a %s, not a One-Touch Join object (%s)", source, i, k, strings.Join(Objects, ", "))
		}
		o := &Object{Kind: k, Fields: f, used: map[string]bool{}}
		e.Objects[k] = append(e.Objects[k], o)
		if uri != "" {
			e.byURI[uri] = o
		}
	}
	return nil
}

func known(kind string) bool {
	for _, k := range Objects {
		if k == kind {
			return true
		}
	}
	return false
}

// kindOfURI returns the object type of /api/admin/configuration/v1/<kind>/<id>/.
func kindOfURI(uri string) string {
	rest, ok := strings.CutPrefix(uri, apiPrefix)
	if !ok {
		return ""
	}
	kind, _, _ := strings.Cut(rest, "/")
	return kind
}

// ReadPaths reads exports from files and directories: a directory contributes its *.json
// files; a file's object type comes from its objects' resource_uri, else from its name.
func ReadPaths(paths []string) (*Export, error) {
	e := NewExport()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read export: %w", err)
		}
		files := []string{p}
		if st.IsDir() {
			files, err = filepath.Glob(filepath.Join(p, "*.json"))
			if err != nil {
				return nil, fmt.Errorf("read export %s: %w", p, err)
			}
			sort.Strings(files)
			if len(files) == 0 {
				return nil, fmt.Errorf("read export: %s holds no *.json files (one per object: %s)", p, strings.Join(Objects, ", "))
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read export: %w", err)
			}
			kind := strings.TrimSuffix(filepath.Base(f), ".json")
			if !known(kind) {
				kind = ""
			}
			if err := e.Add(f, kind, data); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// ref resolves a reference field (a resource_uri string, or {"resource_uri": …} as some
// versions write it) to its object, marking the field used.
func (e *Export) ref(o *Object, field string) *Object {
	o.used[field] = true
	switch v := o.Fields[field].(type) {
	case string:
		return e.byURI[v]
	case map[string]any:
		s, _ := v["resource_uri"].(string)
		return e.byURI[s]
	}
	return nil
}

// refs resolves a list of references.
func (e *Export) refs(o *Object, field string) []*Object {
	o.used[field] = true
	list, _ := o.Fields[field].([]any)
	var out []*Object
	for _, v := range list {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case map[string]any:
			s, _ = v["resource_uri"].(string)
		}
		if t := e.byURI[s]; t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Str returns a string field ("" when absent or null) and marks it used.
func (o *Object) Str(field string) string {
	o.used[field] = true
	switch v := o.Fields[field].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// Int returns a number field and whether it was given.
func (o *Object) Int(field string) (int64, bool) {
	o.used[field] = true
	v, ok := o.Fields[field].(float64)
	return int64(v), ok
}

// Bool returns a boolean field, or def when absent.
func (o *Object) Bool(field string, def bool) bool {
	o.used[field] = true
	if v, ok := o.Fields[field].(bool); ok {
		return v
	}
	return def
}

// Name is the object's name (what the Pexip admin interface shows).
func (o *Object) Name() string {
	n := o.Str("name")
	if n == "" {
		n = o.Str("resource_uri")
	}
	return n
}

// unused lists the fields that were given (not null, not empty) and not used, sorted.
func (o *Object) unused() []string {
	var out []string
	for k, v := range o.Fields {
		if o.used[k] || metaField[k] || empty(v) {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metaField are the API's bookkeeping fields; they carry nothing to map.
var metaField = map[string]bool{"id": true, "resource_uri": true}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	}
	return false
}
