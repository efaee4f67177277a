package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const limitsHead = `site: s1
integrations: [{name: m365, type: graph, client_id: a, client_secret: long-enough-secret, token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token"}]
profiles: [{name: default}]
`

// fanOut is the probe's shape: one mapping of many wrong keys, named by as many aliases, so
// every alias re-reports every key.
func fanOut(keys, aliases int) []byte {
	var b strings.Builder
	b.WriteString(limitsHead + "x-block: &k {")
	for i := range keys {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("}\nendpoints: [")
	for range aliases {
		b.WriteString("*k, ")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// laughs is the classic billion laughs: ten aliases of ten aliases of ... of one scalar, nine
// levels deep, under a key the decoder follows.
func laughs() []byte {
	var b strings.Builder
	b.WriteString(limitsHead + "x-laughs:\n  - &l0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  - &l%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	b.WriteString("endpoints: [*l9]\n")
	return []byte(b.String())
}

// allocated runs f and returns the bytes it allocated (TotalAlloc counts every allocation, so
// the figure does not depend on when the collector ran).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestAliasFanOutIsRefused(t *testing.T) {
	for name, data := range map[string][]byte{
		"fan-out":        fanOut(2000, 2000), // 4 million nodes from a 26 KB file
		"billion laughs": laughs(),
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { _, err = Parse("bomb.yaml", data, env(nil)) })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "bomb.yaml: YAML aliases (*name) expand this file of")
			assert.Contains(t, err.Error(), "refusing to load it")
			assert.Len(t, strings.Split(err.Error(), "\n"), 1, "one problem, not one per expanded node")
			assert.Less(t, alloc, uint64(64<<20), "refused before the aliases are expanded (%d KB file)", len(data)>>10)
		})
	}
}

func TestAliasesWithinReasonLoad(t *testing.T) {
	// Anchors for a shared value are fine, as is a block reused a few hundred times.
	var b strings.Builder
	b.WriteString(limitsHead + "endpoints:\n")
	for i := range 300 {
		anchor := "*u"
		if i == 0 {
			anchor = "&u admin"
		}
		fmt.Fprintf(&b, "  - {name: c%d, type: cisco, room: r%d@example.com, address: 10.0.0.1, username: %s, password: long-enough-pw}\n", i, i, anchor)
	}
	cfg, err := Parse("c.yaml", []byte(b.String()), env(nil))
	require.NoError(t, err)
	assert.Equal(t, "admin", cfg.Endpoints[299].Username)
}

func TestProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(limitsHead)
	for i := range 500 {
		fmt.Fprintf(&b, "bogus%d: 1\n", i)
	}
	_, err := Parse("c.yaml", []byte(b.String()), env(nil))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, maxProblems+1)
	assert.Equal(t, `c.yaml:4: unknown key "bogus0"`, lines[0], "the first problems by line are shown")
	assert.Equal(t, "c.yaml: … and 400 more problems not shown; fix the ones above and check again", lines[maxProblems])
}
