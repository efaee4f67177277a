// Command otj-sim starts every simulator on loopback for the demo, the benchmarks and manual
// testing, and writes DIR/sim.json and DIR/otj-edge.yaml (see simulators/README.md).
package main

import (
	"context"
	"os"

	"github.com/otj-edge/otj-edge/simulators/sim"
)

func main() {
	os.Exit(sim.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
