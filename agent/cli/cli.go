// Package cli is the otj-edge command line: one cmd_*.go file per command, and the process
// around the agent that `otj-edge run` starts in the foreground or under systemd or the
// Windows service manager (signals, the state directory lock, logging, the service program).
// It reaches the agent through package agent's exported API; only cmd/otj-edge imports it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
)

// Exit codes of the otj-edge command.
const (
	ExitOK      = 0
	ExitFailure = 1 // runtime failure
	ExitUsage   = 2 // usage or configuration error
)

// IO is where a command reads and writes; tests replace it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    func(string) (string, bool) // default os.LookupEnv
}

// command is one `otj-edge <name>` subcommand. Each lives in its own cmd_*.go file and
// registers itself in init, so later features add commands without touching this file.
type command struct {
	name    string
	args    string // argument synopsis, e.g. "[--offline]"
	summary string // one line for the command list
	help    string // paragraph(s) for `otj-edge <name> --help`
	// flags declares the command's flags on fs; run receives what flags parsed.
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, io IO, opts any, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a chosen exit code with a message already printed (or none).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }

// Main runs the otj-edge command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	if stdio.Env == nil {
		stdio.Env = os.LookupEnv
	}
	if stdio.Stdin == nil {
		stdio.Stdin = os.Stdin
	}
	if len(args) == 0 {
		printUsage(stdio.Stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				printCommandHelp(stdio.Stdout, c, nil)
				return ExitOK
			}
		}
		printUsage(stdio.Stdout)
		return ExitOK
	case "-v", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stdio.Stderr, "otj-edge: unknown command %q\n\n", name)
		printUsage(stdio.Stderr)
		return ExitUsage
	}
	fs := flag.NewFlagSet("otj-edge "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	positional, err := parseFlagsAnywhere(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdio.Stdout, c, fs)
			return ExitOK
		}
		fmt.Fprintf(stdio.Stderr, "otj-edge %s: %s\n", c.name, err)
		fmt.Fprintf(stdio.Stderr, "usage: otj-edge %s %s (see otj-edge %s --help)\n", c.name, c.args, c.name)
		return ExitUsage
	}
	err = c.run(ctx, stdio, opts, positional)
	return exitCode(stdio.Stderr, c.name, err)
}

// parseFlagsAnywhere parses flags before, between and after the positional arguments, so
// "otj-edge sync ROOM --json" and "otj-edge service install --config FILE" (as the install
// guides write them) work like "otj-edge sync --json ROOM"; the flag package alone stops at
// the first positional argument. After "--" everything is positional.
func parseFlagsAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			// Parse stopped at "--". (A flag given the value "--" looks the same: what
			// follows it is then positional, and the command says it is unexpected.)
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

func exitCode(stderr io.Writer, name string, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "otj-edge %s: %s\n", name, ee.err)
		}
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "otj-edge %s: %s\n", name, ue.msg)
		return ExitUsage
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, ce.Error())
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		return ExitFailure
	}
	fmt.Fprintf(stderr, "otj-edge %s: %s\n", name, err)
	return ExitFailure
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "otj-edge: One-Touch Join for the rooms of one site (Microsoft 365 → Cisco and Poly).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: otj-edge <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'otj-edge <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.")
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: otj-edge %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	if fs == nil {
		fs = flag.NewFlagSet(c.name, flag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// configFlag adds the --config flag every command that reads the config shares.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", config.DefaultPath(), "configuration `file`")
}

// loadConfig reads the config named by --config, with the command's environment.
func loadConfig(path string, stdio IO) (*config.Config, error) {
	return config.LoadWith(path, config.Options{LookupEnv: stdio.Env})
}
