// Command otj-edge is the One-Touch Join agent for one site. The command line lives in package
// agent/cli and the agent in package agent; this only hands the one the arguments and exits
// with its code.
package main

import (
	"context"
	"os"
	_ "time/tzdata" // room calendars need zone data even where the host has none (Windows, minimal Linux)

	"github.com/otj-edge/otj-edge/agent/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
}
