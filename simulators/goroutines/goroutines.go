// Package goroutines counts the parked goroutines whose stacks show a given frame, for tests
// that hold a driver or source to "no goroutine per device" or "waiting here, holding
// nothing". Tests only; it imports nothing of the project.
package goroutines

import (
	"runtime"
	"strings"
)

// Parked is how many parked goroutines' stacks contain match and none of except. A goroutine
// that is running or runnable is not counted: it is finishing what it was started for (a
// step that has just handed back its result, say), not held waiting, and counting it made
// "the driver holds two goroutines" fail now and then on a loaded machine.
func Parked(match string, except ...string) int { return count(true, match, except) }

// All is how many goroutines' stacks contain match and none of except, running ones too (for
// "none left": a goroutine still on its way out counts).
func All(match string, except ...string) int { return count(false, match, except) }

func count(parkedOnly bool, match string, except []string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf)) // every stack, not the first megabyte's
	}
	found := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, match) && !containsAny(g, except) && !(parkedOnly && active(g)) {
			found++
		}
	}
	return found
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// active reports whether a stack's header ("goroutine 7 [runnable]:") says it runs or may run.
func active(stack string) bool {
	header, _, _ := strings.Cut(stack, "\n")
	return strings.Contains(header, "[running") || strings.Contains(header, "[runnable")
}
