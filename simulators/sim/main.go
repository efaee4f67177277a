package sim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // --zone works on a machine without the zone database (the bench's Etc/GMT zones)
)

// Main is the otj-sim command: flags as in design.md, start everything, print the ready line,
// run until interrupted. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("otj-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Dir, "dir", "sim", "directory for sim.json, otj-edge.yaml, ca.pem and the agent's state")
	fs.IntVar(&o.Rooms, "rooms", 20, "room mailboxes")
	fs.IntVar(&o.Meetings, "meetings", 40, "meetings per room over the coming days")
	fs.IntVar(&o.Cisco, "cisco", 14, "simulated Cisco codecs")
	fs.IntVar(&o.Poly, "poly", 6, "simulated Poly endpoints")
	fs.IntVar(&o.Webex, "webex", 0, "simulated Webex cloud-registered devices (webexsim)")
	fs.DurationVar(&o.Latency, "latency", 0, "latency added to every Graph request (e.g. 100ms)")
	fs.StringVar(&o.MQTT, "mqtt", "embedded", "MQTT broker: embedded, off, or HOST:PORT")
	fs.Int64Var(&o.Seed, "seed", 1, "scenario seed")
	fs.BoolVar(&o.Clean, "clean", false, "no deliberately misconfigured rooms (the demo has one with bad calendar processing and one outside the access policy)")
	fs.StringVar(&o.Source, "source", SourceGraph, "calendar source of the generated agent config: graph, ews (ewssim serves the same rooms over EWS) or google (googlesim serves them as Google resource calendars)")
	fs.BoolVar(&o.Notify, "notify", false, "Graph change notifications: a TLS reverse proxy (the sim CA) in front of the agent's notifications listener")
	fs.StringVar(&o.FreeBusyDetails, "free-busy-details", "availability_only", "what graphsim's getSchedule shows of the rooms: availability_only (Exchange's default) or limited_details (subject and location too)")
	fs.DurationVar(&o.Shift, "shift", 0, "move the generated calendars' working-day grid (meetings on the hour and half hour) by whole minutes, -30m..30m")
	fs.StringVar(&o.Zone, "zone", "", "IANA time zone of the generated calendars' working hours, e.g. Europe/Oslo or Etc/GMT-5 (default: this machine's zone)")
	verbose := fs.Bool("v", false, "log simulator activity to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: otj-sim [--dir DIR] [--rooms N] [--meetings M] [--cisco N] [--poly N] [--webex N] [--latency 100ms] [--mqtt embedded|off|HOST:PORT] [--seed S] [--clean] [--source graph|ews|google] [--notify] [--free-busy-details availability_only|limited_details] [--zone ZONE] [--shift 17m]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "otj-sim: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if o.Source != SourceGraph && o.Source != SourceEWS && o.Source != SourceGoogle {
		fmt.Fprintf(stderr, "otj-sim: --source %q: want graph, ews or google\n", o.Source)
		return 2
	}
	if o.Rooms < 1 || o.Cisco < 0 || o.Poly < 0 || o.Webex < 0 || o.Meetings < 0 {
		fmt.Fprintln(stderr, "otj-sim: --rooms must be at least 1; --cisco, --poly, --webex and --meetings cannot be negative")
		return 2
	}
	if o.Zone != "" {
		if _, err := time.LoadLocation(o.Zone); err != nil {
			fmt.Fprintf(stderr, "otj-sim: --zone %q: not a time zone (%v)\n", o.Zone, err)
			return 2
		}
	}
	if err := checkShift(o.Shift); err != nil {
		fmt.Fprintf(stderr, "otj-sim: --%s\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "otj-sim: %s\n", err)
		return 1
	}
	defer run.Close()
	fmt.Fprintf(stdout, "otj-sim ready: %s\n", run.SimJSON)
	<-ctx.Done()
	done := make(chan struct{})
	go func() { run.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return 0
}
