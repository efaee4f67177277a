package agent_test

import (
	"context"
	"io"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/cli"
)

// Package agent's tests run commands through the real command line (see cliMain).
func init() {
	agent.SetCLIMain(func(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
		return cli.Main(ctx, args, cli.IO{Stdout: stdout, Stderr: stderr, Env: env})
	})
}
