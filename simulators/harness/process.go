package harness

import (
	"os"
	"os/exec"
)

// StartProcess runs any program (e.g. make bench's naive baseline) with args and extra
// environment variables, its stdout and stderr in logPath, without waiting for anything.
func StartProcess(path string, args []string, logPath string, env ...string) (*Proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	return start(cmd, logPath, false)
}
