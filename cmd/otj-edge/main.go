// Command otj-edge is the One-Touch Join agent for one site. Everything lives in package agent;
// this only hands it the command line and exits with its code.
package main

import (
	"context"
	"os"
	_ "time/tzdata" // room calendars need zone data even where the host has none (Windows, minimal Linux)

	"github.com/otj-edge/otj-edge/agent"
)

func main() {
	os.Exit(agent.Main(context.Background(), os.Args[1:], agent.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
}
