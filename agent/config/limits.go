package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// YAML aliases let a small file describe a huge tree: a mapping with a thousand keys named by a
// thousand aliases is a million nodes to decode and, when the keys are wrong, a million
// problems to format (a 39 KB file took 1.25 GB before these limits). The parsed tree is
// measured before anything walks it, counting each alias as the size of what it names, and a
// config whose aliases add more than aliasBudget(written) nodes is refused. A config written
// without aliases, however large, is never refused by this.
const (
	// minAliasNodes is what aliases may always add: far more than any real config's use of
	// anchors (a shared user name or rule list named by each of 10,000 endpoints or a few
	// profiles adds well under that).
	minAliasNodes = 100_000
	// aliasFactor lets a very large config still name a small shared value in every entry.
	aliasFactor = 4
	// maxProblems caps the errors (and, separately, the warnings) one load reports: a file
	// that is wrong in thousands of places is fixed from the top, and the cap bounds the
	// memory the messages take.
	maxProblems = 100
	// maxKept is how many problems a load holds before it only counts them: enough that the
	// first maxProblems by line are nearly always among them.
	maxKept = 10 * maxProblems
)

func aliasBudget(written int) int { return max(minAliasNodes, aliasFactor*written) }

// nodeCounter measures a yaml.Node tree as written and as aliases expand it. Expanded sizes are
// memoised per node, so measuring costs one visit per written node however deep the aliases
// nest; sums saturate at limit so a billion-laughs tree cannot overflow them.
type nodeCounter struct {
	written  int
	limit    int
	expanded map[*yaml.Node]int
}

// size is the expanded size of n; it also counts the written nodes the first time it meets them.
func (c *nodeCounter) size(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if s, ok := c.expanded[n]; ok {
		return s
	}
	// A node being measured counts as 1 if it is met again through an alias (yaml.v3 refuses
	// an anchor that contains itself, but the counter must not loop if one ever got through).
	c.expanded[n] = 1
	c.written++
	total := 1
	if n.Kind == yaml.AliasNode {
		total += c.size(n.Alias)
	}
	for _, child := range n.Content {
		total = min(total+c.size(child), c.limit)
	}
	total = min(total, c.limit)
	c.expanded[n] = total
	return total
}

// checkAliases reports whether root's aliases stay within the budget; when they do not, it
// records the problem (naming the file, as every problem does).
func (l *loader) checkAliases(root *yaml.Node) bool {
	// The limit only needs to exceed any budget: the written size is at most a file's worth
	// of nodes, so 1<<40 cannot be reached by honest counting.
	c := &nodeCounter{limit: 1 << 40, expanded: map[*yaml.Node]int{}}
	total := c.size(root)
	if extra := total - c.written; extra > aliasBudget(c.written) {
		l.errorf(0, "YAML aliases (*name) expand this file of %d nodes by more than %d nodes; refusing to load it "+
			"(a config needs few aliases, if any: write the repeated parts out)",
			c.written, aliasBudget(c.written))
		return false
	}
	return true
}

// capProblems keeps the first maxProblems of ps (sorted by line) and says how many more there
// were, counting dropped: those found after maxKept.
func capProblems(file string, ps []Problem, dropped int, warning bool) []Problem {
	if len(ps) <= maxProblems && dropped == 0 {
		return ps
	}
	kind := "problems"
	if warning {
		kind = "warnings"
	}
	shown := min(len(ps), maxProblems)
	more := Problem{File: file, Warning: warning,
		Msg: fmt.Sprintf("… and %d more %s not shown; fix the ones above and check again", len(ps)-shown+dropped, kind)}
	return append(ps[:shown:shown], more)
}
