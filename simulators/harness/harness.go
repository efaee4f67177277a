// Package harness runs the real binaries for measurements and fault scenarios (`make bench`,
// `make soak`): it builds otj-edge and otj-sim, starts otj-sim and waits for its ready line,
// starts the agent on the generated config and waits for its status API, stops or kills
// either, and reads a process's memory and CPU from /proc. It is never imported by the product.
package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otj-edge/otj-edge/simulators/sim"
)

// Bins are the built binaries.
type Bins struct {
	Agent string // otj-edge
	Sim   string // otj-sim
}

// Build compiles both binaries into dir the way they ship (CGO off, stripped, -trimpath).
// root is the repository root.
func Build(ctx context.Context, root, dir string) (Bins, error) {
	b := Bins{Agent: filepath.Join(dir, "otj-edge"), Sim: filepath.Join(dir, "otj-sim")}
	for _, t := range []struct{ out, pkg string }{{b.Agent, "./cmd/otj-edge"}, {b.Sim, "./cmd/otj-sim"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", t.out, t.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("build %s: %w\n%s", t.pkg, err, out)
		}
	}
	return b, nil
}

// Root finds the repository root (the directory with go.mod) from the working directory up.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Proc is a started process with its log file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout/stderr log (the ready line excepted)
	done chan error
	err  error
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case err := <-p.done:
		p.err = err
		p.done = nil
		return true, err
	default:
		if p.done == nil {
			return true, p.err
		}
		return false, nil
	}
}

// Stop sends SIGINT and waits up to limit for the process to end, then kills it.
func (p *Proc) Stop(limit time.Duration) error {
	if done, err := p.Exited(); done {
		return err
	}
	_ = p.Cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		p.done = nil
		p.err = err
		return err
	case <-time.After(limit):
		_ = p.Cmd.Process.Kill()
		p.err = <-p.done
		p.done = nil
		return fmt.Errorf("%s did not stop within %s: killed", filepath.Base(p.Cmd.Path), limit)
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	if done, _ := p.Exited(); done {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	p.err = <-p.done
	p.done = nil
}

// start runs cmd with its stderr (and stdout, unless the caller reads it) in logPath.
func start(cmd *exec.Cmd, logPath string, stdoutTaken bool) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = f
	if !stdoutTaken {
		cmd.Stdout = f
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.done <- err
	}()
	return p, nil
}

// Sim is a running otj-sim.
type Sim struct {
	*Proc
	Dir  string
	File sim.File
}

// StartSim runs otj-sim --dir dir with extra flags (e.g. "--rooms", "1000") and waits for its
// ready line, then reads sim.json.
func StartSim(ctx context.Context, bins Bins, dir string, flags ...string) (*Sim, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(bins.Sim, append([]string{"--dir", dir}, flags...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := start(cmd, filepath.Join(dir, "otj-sim.log"), true)
	if err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if path, ok := strings.CutPrefix(sc.Text(), "otj-sim ready: "); ok {
				ready <- path
			}
		}
	}()
	select {
	case path := <-ready:
		s := &Sim{Proc: p, Dir: dir}
		b, err := os.ReadFile(path)
		if err != nil {
			p.Kill()
			return nil, err
		}
		if err := json.Unmarshal(b, &s.File); err != nil {
			p.Kill()
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return s, nil
	case err := <-p.done:
		return nil, fmt.Errorf("otj-sim exited before it was ready (%v); see %s", err, p.Log)
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
}

// Agent is a running otj-edge.
type Agent struct {
	*Proc
	Config    string
	StatusURL string
}

// StartAgent runs `otj-edge run --config cfg` (logging to logPath, with extra environment
// variables) and waits until its status API answers.
func StartAgent(ctx context.Context, bins Bins, cfg, statusURL, logPath string, env ...string) (*Agent, error) {
	cmd := exec.Command(bins.Agent, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	p, err := start(cmd, logPath, false)
	if err != nil {
		return nil, err
	}
	a := &Agent{Proc: p, Config: cfg, StatusURL: statusURL}
	for {
		if _, err := a.Status(ctx); err == nil {
			return a, nil
		}
		if done, err := p.Exited(); done {
			return nil, fmt.Errorf("otj-edge exited at start (%v); see %s", err, logPath)
		}
		select {
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Status is the agent's /api/status document (the parts measurements use).
type Status struct {
	Rooms     map[string]int `json:"rooms"`
	Endpoints map[string]int `json:"endpoints"`
	Calendar  struct {
		Rooms  int `json:"rooms"`
		Synced int `json:"synced"`
	} `json:"calendar"`
	// Sources are the calendar sources with their request budget use.
	Sources []struct {
		Type          string `json:"type"` // graph
		Name          string `json:"name"`
		RequestsToday int64  `json:"requests_today"`
		Budget        int64  `json:"budget"`
		Projected24h  int64  `json:"projected_24h"`
	} `json:"sources"`
	Health struct {
		Overall string `json:"overall"`
	} `json:"health"`
}

var client = &http.Client{Timeout: 5 * time.Second}

// Status fetches /api/status.
func (a *Agent) Status(ctx context.Context) (Status, error) {
	var st Status
	// Not `return st, GetJSON(…)`: Go leaves open whether st is read before the call.
	err := GetJSON(ctx, a.StatusURL+"/api/status", &st)
	return st, err
}

// GetJSON GETs url and decodes the JSON answer into v.
func GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Usage is a process's memory and CPU use as /proc reports it.
type Usage struct {
	RSSBytes     int64 // resident now (VmRSS)
	PeakRSSBytes int64 // high-water mark (VmHWM)
	// AnonRSSBytes and FileRSSBytes split RSSBytes (VmRSS = RssAnon + RssFile + RssShmem):
	// the process's own memory (heap, stacks, C allocations) and the pages of files it maps:
	// its program file's above all, clean copies of the file that the kernel can drop and read
	// back, counted in RSS while they are mapped (and a database's few shared-memory pages).
	AnonRSSBytes int64         // RssAnon
	FileRSSBytes int64         // RssFile + RssShmem
	CPU          time.Duration // user + system time so far
}

// ProcUsage reads /proc/<pid>/status and /proc/<pid>/stat (Linux).
func ProcUsage(pid int) (Usage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	u := parseStatus(b)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return u, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	u.CPU = time.Duration(utime+stime) * time.Second / ticksPerSecond
	return u, nil
}

// parseStatus reads the memory lines of a /proc/<pid>/status (sizes in kB).
func parseStatus(b []byte) Usage {
	var u Usage
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			u.RSSBytes = n * 1024
		case "VmHWM":
			u.PeakRSSBytes = n * 1024
		case "RssAnon":
			u.AnonRSSBytes = n * 1024
		case "RssFile", "RssShmem":
			u.FileRSSBytes += n * 1024
		}
	}
	return u
}
