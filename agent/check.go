package agent

import (
	"context"
	"io"

	"github.com/otj-edge/otj-edge/agent/config"
)

// The checks behind `otj-edge check`: the offline clock check, and the online checks of what
// the agent talks to (each calendar source's and endpoint type's own check from their table
// rows, the MQTT broker, the clock against the token endpoints). The CLI only prints around them.

// onlineCheck is a connectivity check (Graph token and rooms, codecs, …). It writes one line
// per thing checked to w and reports how many failed. Features register theirs in init.
type onlineCheck struct {
	name string
	run  func(ctx context.Context, cfg *config.Config, w io.Writer) (failed int)
}

var onlineChecks []onlineCheck

func registerCheck(c onlineCheck) { onlineChecks = append(onlineChecks, c) }

// CheckOnline runs every online check for cfg in turn, writing one line per thing checked to
// w, and returns how many failed. ctx bounds them all.
func CheckOnline(ctx context.Context, cfg *config.Config, w io.Writer) (failed int) {
	for _, c := range onlineChecks {
		failed += c.run(ctx, cfg, w)
	}
	return failed
}

// CheckClockOffline writes to w whether the clock reads earlier than this build or than the
// newest time the store recorded (a warning, never a failure). No network.
func CheckClockOffline(ctx context.Context, cfg *config.Config, w io.Writer) {
	checkClockOffline(ctx, w, cfg, checkClock.Now())
}
