package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/kardianos/service"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/config"
)

type runFlags struct {
	config *string
}

func init() {
	register(&command{
		name:    "run",
		args:    "[--config FILE]",
		summary: "run the agent in the foreground (also what the service manager starts)",
		help: `Runs the agent until interrupted (Ctrl-C, SIGTERM) or, when started by systemd or the
Windows service manager, until the service is stopped. Logs go to stderr.`,
		flags: func(fs *flag.FlagSet) any { return &runFlags{config: configFlag(fs)} },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %v", args)
			}
			return runAgent(ctx, stdio, *opts.(*runFlags).config)
		},
	})
}

// runHook, when set (tests only), is handed the agent `run` built once it holds the state
// directory, so a test can wait for it to be ready.
var runHook func(*agent.Agent)

// stopTimeout bounds how long Stop waits for the agent to wind down: the Windows service
// manager kills a service that takes much longer to stop, and a stop that hangs is worse than
// one that gives up on a last write (the store is transactional).
const stopTimeout = 15 * time.Second

// program adapts the agent to kardianos/service: Start returns at once and the work runs in a
// goroutine; Stop cancels one root context and waits a bounded time.
type program struct {
	run    func(ctx context.Context) error
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	// failed is called when the agent ends on its own with an error while running as a
	// service, so the service manager sees the process fail and restarts it.
	failed func(error)
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.run(ctx)
		if p.err != nil && ctx.Err() == nil && p.failed != nil {
			p.failed(p.err)
		}
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		return errors.New("agent did not stop in time")
	}
	return nil
}

// Shutdown is called when the machine shuts down (Windows): same as Stop.
func (p *program) Shutdown(s service.Service) error { return p.Stop(s) }

// runMode is how otj-edge was started.
type runMode struct {
	goos string
	// managed: started by a service manager (systemd, the Windows SCM), not from a console.
	managed bool
	// exe is the executable's path (Windows services start in the executable's directory).
	exe string
	// sysLog reaches the Windows event log (nil elsewhere: systemd's journal reads stderr).
	sysLog service.Logger
}

func currentMode(cfgPath string) runMode {
	m := runMode{goos: runtime.GOOS, managed: !service.Interactive()}
	m.exe, _ = executable()
	if m.managed && m.goos == "windows" {
		if svc, err := newService(cfgPath, nil); err == nil {
			if l, err := svc.Logger(nil); err == nil {
				m.sysLog = l
			}
		}
	}
	return m
}

func runAgent(ctx context.Context, stdio IO, cfgPath string) error {
	mode := currentMode(cfgPath)
	cfg, log, closeLog, err := startRun(stdio, cfgPath, mode)
	if err != nil {
		return err
	}
	defer closeLog()
	// One agent per state directory, decided before anything starts; read-only commands
	// (rooms, doctor, check, rules test…) never take the lock and keep working beside it.
	lock, err := lockStateDir(cfg.StateDir, time.Now())
	if err != nil {
		if mode.sysLog != nil { // stderr goes nowhere for a Windows service
			_ = mode.sysLog.Error("otj-edge cannot start: " + err.Error())
		}
		var held *stateLockedError
		if errors.As(err, &held) {
			return exitError{code: ExitUsage, err: err}
		}
		return err
	}
	defer func() {
		if err := lock.release(); err != nil {
			log.Warn("state directory lock", "err", err)
		}
	}()
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w.String())
	}
	tuneGC(stdio.Env, log)
	quietTracing()
	if addr, ok := stdio.Env(pprofEnv); ok && addr != "" {
		pctx, stopPprof := context.WithCancel(ctx)
		wait, err := startPprof(pctx, addr, log)
		if err != nil {
			stopPprof()
			return err
		}
		defer func() { stopPprof(); wait() }()
	}
	a := agent.New(cfg, agent.Options{Logger: log, ConfigPath: cfg.File, LookupEnv: stdio.Env})
	if runHook != nil {
		runHook(a)
	}
	p := &program{run: a.Run}

	// SIGHUP reloads the config (systemctl reload otj-edge), as the API and MQTT can.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	go func() {
		for range hup {
			if err := a.Reload(context.Background()); err != nil {
				log.Warn("reload on SIGHUP refused", "err", err)
			}
		}
	}()

	if mode.managed {
		p.failed = func(err error) {
			log.Error("agent failed", "err", err)
			os.Exit(ExitFailure)
		}
		svc, err := newService(cfg.File, p)
		if err != nil {
			return err
		}
		return svc.Run()
	}

	// Foreground: the same Start/Stop path the service manager uses.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Start(nil); err != nil {
		return err
	}
	select {
	case <-sigCtx.Done():
		if err := p.Stop(nil); err != nil {
			return err
		}
		return nil
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("agent stopped: %w", p.err)
		}
		return nil
	}
}

// startRun prepares a run: the working directory, the config and the logger. A Windows
// service starts in C:\Windows\System32, so it first moves to the executable's directory and
// resolves the config path from there; it logs to <state_dir>\logs\otj-edge.log (its stderr
// goes nowhere) and mirrors warnings and errors, and a config that does not load, to the
// event log.
func startRun(stdio IO, cfgPath string, mode runMode) (*config.Config, *slog.Logger, func(), error) {
	if mode.managed && mode.goos == "windows" && mode.exe != "" {
		if err := os.Chdir(filepath.Dir(mode.exe)); err != nil {
			return nil, nil, nil, fmt.Errorf("enter the executable's directory: %w", err)
		}
	}
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := loadConfig(abs, stdio)
	if err != nil {
		if mode.sysLog != nil {
			_ = mode.sysLog.Error("otj-edge cannot start: " + err.Error())
		}
		return nil, nil, nil, err
	}
	out, closeLog := stdio.Stderr, func() {}
	if mode.managed && mode.goos == "windows" {
		path := filepath.Join(cfg.StateDir, "logs", "otj-edge.log")
		if f, err := openRotatingFile(path, logFileMax, logFileKeep); err == nil {
			out, closeLog = f, func() { _ = f.Close() }
		} else if mode.sysLog != nil {
			_ = mode.sysLog.Warning("otj-edge: logging to the event log only: " + err.Error())
		}
	}
	var mirror func(slog.Level, string)
	if l := mode.sysLog; l != nil {
		mirror = func(level slog.Level, msg string) {
			// The event log is a convenience: failing to write it must not stop the agent.
			if level >= slog.LevelError {
				_ = l.Error(msg)
			} else {
				_ = l.Warning(msg)
			}
		}
	}
	return cfg, agent.NewLogger(out, cfg.Log.Format, cfg.Log.Level, agent.SecretsOf(cfg), mirror), closeLog, nil
}
