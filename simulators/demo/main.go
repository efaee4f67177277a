// Command demo is `make demo`: it starts otj-sim (Graph with a realistic day, a Cisco codec
// fleet, a Poly fleet, an embedded MQTT broker) and the agent on the generated config, prints
// the status page's address and keeps a one-screen summary up to date until Ctrl-C, which
// stops everything. It drives the real binaries; it is never imported by the product.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otj-edge/otj-edge/simulators/sim"
)

func main() {
	agentBin := flag.String("agent", "bin/otj-edge", "the otj-edge binary")
	simBin := flag.String("sim", "bin/otj-sim", "the otj-sim binary")
	dir := flag.String("dir", "sim", "directory for the simulators' files and the agent's state")
	rooms := flag.Int("rooms", 20, "rooms")
	cisco := flag.Int("cisco", 14, "Cisco codecs")
	poly := flag.Int("poly", 6, "Poly endpoints")
	webex := flag.Int("webex", 3, "Cisco devices registered to Webex (pushed through the cloud xAPI, webexsim), in the first codecs' rooms")
	once := flag.Bool("once", false, "print one summary once everything has settled and exit (for tests)")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: run until Ctrl-C)")
	// OTJ_DEMO_SOURCE=google make demo runs the demo on Google Workspace (googlesim).
	source := flag.String("source", envOr("OTJ_DEMO_SOURCE", sim.SourceGraph), "calendar source: graph, ews or google (default $OTJ_DEMO_SOURCE, else graph)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	if err := run(ctx, os.Stdout, *agentBin, *simBin, *dir, *source, *rooms, *cisco, *poly, *webex, *once); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// envOr is the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, w io.Writer, agentBin, simBin, dir, source string, rooms, cisco, poly, webex int, once bool) error {
	// A fresh directory each time: the demo's calendars are generated around "now".
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	simLog, err := os.Create(filepath.Join(dir, "otj-sim.log"))
	if err != nil {
		return err
	}
	defer simLog.Close()
	simCmd := exec.Command(simBin, "--dir", dir, "--rooms", fmt.Sprint(rooms), "--cisco", fmt.Sprint(cisco),
		"--poly", fmt.Sprint(poly), "--webex", fmt.Sprint(webex), "--mqtt", "embedded", "--source", source)
	simCmd.Stderr = simLog
	out, err := simCmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := simCmd.Start(); err != nil {
		return fmt.Errorf("start otj-sim: %w", err)
	}
	defer terminate(simCmd, "otj-sim")
	simJSON, err := waitReady(ctx, out)
	if err != nil {
		return fmt.Errorf("otj-sim: %w (see %s)", err, simLog.Name())
	}
	var f sim.File
	b, err := os.ReadFile(simJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read %s: %w", simJSON, err)
	}

	agentLog, err := os.Create(filepath.Join(dir, "otj-edge.log"))
	if err != nil {
		return err
	}
	defer agentLog.Close()
	agentCmd := exec.Command(agentBin, "run", "--config", f.Agent.Config)
	agentCmd.Stdout, agentCmd.Stderr = agentLog, agentLog
	if err := agentCmd.Start(); err != nil {
		return fmt.Errorf("start otj-edge: %w", err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agentCmd.Wait() }()
	defer func() {
		if agentCmd.ProcessState == nil {
			_ = agentCmd.Process.Signal(os.Interrupt)
			select {
			case <-agentDone:
			case <-time.After(20 * time.Second):
				_ = agentCmd.Process.Kill()
			}
		}
	}()

	var msgs *mqttCounter
	if f.MQTT != nil {
		msgs = newMQTTCounter()
		defer msgs.watch(f.MQTT.URL)()
	}

	fmt.Fprintf(w, "otj-edge demo\n  status page: %s\n  simulators:  %s\n  agent log:   %s\n  (Ctrl-C stops everything)\n\n",
		f.Agent.StatusURL, simJSON, agentLog.Name())

	// The simulators and the agent are read every 2 s, but the screen is redrawn only when
	// what it shows has changed.
	sc := &screen{w: w, tty: w == os.Stdout && isTerminal(),
		header: fmt.Sprintf("otj-edge demo: status page %s (Ctrl-C stops)\n\n", f.Agent.StatusURL)}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		s := collect(ctx, &f, msgs)
		if once && s.settled() {
			fmt.Fprint(w, s.render())
			return nil
		}
		if !once {
			sc.show(s.render())
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "\nstopping…")
			return ctx.Err()
		case err := <-agentDone:
			return fmt.Errorf("the agent stopped (%v); see %s", err, agentLog.Name())
		case <-tick.C:
		}
	}
}

// waitReady reads otj-sim's stdout until its ready line and returns the sim.json path.
func waitReady(ctx context.Context, r io.Reader) (string, error) {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", errors.New("exited before it was ready")
			}
			if p, found := strings.CutPrefix(l, "otj-sim ready: "); found {
				go func() {
					for range lines {
					}
				}()
				return p, nil
			}
		case <-timeout:
			return "", errors.New("not ready after 2 minutes")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func terminate(cmd *exec.Cmd, name string) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintf(os.Stderr, "demo: %s did not stop; killing it\n", name)
		_ = cmd.Process.Kill()
	}
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
