package agent

import (
	"context"
	"io"
)

// SetCLIMain hands package agent's tests the command line (see cliMain).
func SetCLIMain(f func(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int) {
	cliMain = f
}
