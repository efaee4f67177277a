package cli

import "time"

// recoveryStep is one Windows service recovery action: restart the service after Delay.
type recoveryStep struct {
	Delay time.Duration
}

// recoveryPlan is what the Service Control Manager does after the 1st, 2nd and 3rd failure;
// it repeats the last step for every later failure, so the agent is never given up on. The
// first restart is quick (a one-off crash), later ones back off so a persistent fault (a
// broken store, a config error) does not spin. recoveryReset is the failure-free time after
// which the count starts again. kardianos/service sets only one action, so afterInstall sets
// these itself (as Tailscale does for tailscaled).
var (
	recoveryPlan = []recoveryStep{
		{Delay: 5 * time.Second},
		{Delay: 30 * time.Second},
		{Delay: 2 * time.Minute},
	}
	recoveryReset = 24 * time.Hour
)
