package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboard is the Grafana dashboard shipped for the central team.
var dashboard = filepath.Join("..", "..", "packaging", "grafana", "otj-edge.json")

// prometheusOwn are series Prometheus makes itself for every target.
var prometheusOwn = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// goldenNames are the series names the golden exposition has.
func goldenNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "exposition.golden"))
	require.NoError(t, err)
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	require.NotEmpty(t, names)
	return names
}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	ranges     = regexp.MustCompile(`\[[^\]]*\]`)
	labelLists = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	labelVals  = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)[^)]*\)`)
	ident      = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	keywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
)

// metricNames are the series names a PromQL expression (or a Grafana label_values query) reads:
// identifiers that are not functions, keywords, label names or strings.
func metricNames(expr string) []string {
	var out []string
	expr = labelVals.ReplaceAllStringFunc(expr, func(m string) string {
		out = append(out, labelVals.FindStringSubmatch(m)[1])
		return ""
	})
	expr = quoted.ReplaceAllString(expr, `""`)
	expr = matchers.ReplaceAllString(expr, " ")
	expr = ranges.ReplaceAllString(expr, " ")
	expr = labelLists.ReplaceAllString(expr, " ")
	for _, m := range ident.FindAllStringSubmatch(expr, -1) {
		if m[1] != "" || slices.Contains(keywords, m[0]) { // a function call or a keyword
			continue
		}
		out = append(out, m[0])
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	assert.Equal(t, []string{"up", "otj_site_info"}, metricNames(
		`up{job=~"$job"} * on(instance) group_left(site) max by (instance, site) (last_over_time(otj_site_info{a="b c"}[1d]))`))
	assert.Equal(t, []string{"otj_endpoint_pushes_total"}, metricNames(`sum by (type, result) (rate(otj_endpoint_pushes_total{x="y"}[5m]))`))
	assert.Equal(t, []string{"otj_site_info"}, metricNames(`label_values(otj_site_info{job=~"$job"}, instance)`))
	assert.Equal(t, []string{"otj_a", "otj_b"}, metricNames(`count(otj_a) - sum(otj_b) > bool 0`))
}

// TestDashboardUsesOnlyExposedNames reads every query of the Grafana dashboard and checks that
// each series it names is one /metrics exposes (the golden), so a renamed series cannot leave
// a panel silently empty; and that the panels the central team needs are there.
func TestDashboardUsesOnlyExposedNames(t *testing.T) {
	b, err := os.ReadFile(dashboard)
	require.NoError(t, err)
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.UID)
	exposed := append(goldenNames(t), prometheusOwn...)
	var exprs []string
	var titles []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		titles = append(titles, p.Title)
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q has an empty query", p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
			exprs = append(exprs, q.Query)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricNames(e)
		assert.NotEmpty(t, names, "query %q names no series", e)
		for _, n := range names {
			used[n] = true
			assert.Contains(t, exposed, n, "query %q reads %s, which /metrics does not expose", e, n)
		}
	}
	for _, want := range []string{"Sites up", "Rooms by sync status", "Requests vs budget", "Endpoint states",
		"Push latency", "Outbox depth", "Outbox drops"} {
		assert.Contains(t, titles, want)
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("the dashboard reads %d series: %s", len(names), strings.Join(names, ", "))
}
