package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/web"
	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/store"
)

type endpointsFlags struct {
	config *string
	json   *bool
}

func init() {
	register(&command{
		name:    "endpoints",
		args:    "[--config FILE] | trust NAME [--config FILE] | retry NAME [--config FILE] [--json]",
		summary: "list endpoints and their state; accept an endpoint's changed certificate; try a codec once now",
		help: `Without arguments, lists every endpoint the agent knows, from its store (read-only, so it
works while the agent runs): name, type, room, state, firmware, last push or poll, and the
pinned certificate, followed by each endpoint's detail.

"endpoints trust NAME" accepts the certificate an endpoint presented when it no longer
matched the pin (state cert_changed): a Cisco codec, or the REST API of a Poly endpoint with an
address. The presented certificate becomes the pin and the running agent connects with it
within 30 seconds. Check the fingerprint first (a codec's web interface shows it under Security
→ Certificates). Endpoints pinned with fingerprint or verified with ca_file in the config are
changed there instead.

"endpoints retry NAME" asks the running agent to make one connection attempt to the Cisco
codec NAME now and prints how it went: connected and pushed, or still refused and why. After a
wrong password (HTTP 403) the agent tries only once every 5 minutes, because codecs lock the
account after 5 failed logins; once the password is fixed on the codec (or in the config and
reloaded), retry connects at once. Each retry is one login, so fix the password first. Exits
1 when the codec is still not connected.`,
		flags: func(fs *flag.FlagSet) any {
			return &endpointsFlags{config: configFlag(fs), json: fs.Bool("json", false, "print the retry's result as JSON")}
		},
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*endpointsFlags)
			if len(args) == 0 {
				return listEndpoints(ctx, stdio, *f.config)
			}
			if args[0] != "trust" && args[0] != "retry" {
				return usagef("unknown action %q (want: trust NAME or retry NAME)", args[0])
			}
			if len(args) != 2 {
				return usagef("endpoints %s takes one endpoint name", args[0])
			}
			if args[0] == "retry" {
				return retryEndpoint(ctx, stdio, *f.config, args[1], *f.json)
			}
			return trustEndpoint(ctx, stdio, *f.config, args[1])
		},
	})
}

func listEndpoints(ctx context.Context, stdio IO, path string) error {
	cfg, err := loadConfig(path, stdio)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	eps, err := st.Endpoints(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tROOM\tSTATE\tFIRMWARE\tLAST PUSH/POLL\tCERTIFICATE")
	seen := map[string]bool{}
	for _, e := range eps {
		seen[e.Name] = true
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Type, e.Room, e.State, dash(e.Software), lastActivity(e), certColumn(e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range eps {
		if e.Detail != "" {
			fmt.Fprintf(stdio.Stdout, "  %s: %s\n", e.Name, e.Detail)
		}
		if e.SeenSHA256 != "" {
			fmt.Fprintf(stdio.Stdout, "  %s: presents %s\n", e.Name, pin.Colon(e.SeenSHA256))
			if e.CertSHA256 != "" {
				fmt.Fprintf(stdio.Stdout, "  %s: pinned   %s\n", e.Name, pin.Colon(e.CertSHA256))
			}
		}
	}
	for _, e := range cfg.Endpoints {
		if !seen[e.Name] {
			fmt.Fprintf(stdio.Stdout, "  %s: configured, not yet seen by the agent (start or restart it)\n", e.Name)
		}
	}
	return nil
}

func lastActivity(e store.EndpointState) string {
	switch {
	case !e.LastPush.IsZero():
		return "push " + e.LastPush.Local().Format("2006-01-02 15:04:05")
	case !e.LastPoll.IsZero():
		return "poll " + e.LastPoll.Local().Format("2006-01-02 15:04:05")
	}
	return "-"
}

func certColumn(e store.EndpointState) string {
	switch {
	case e.SeenSHA256 != "":
		return "CHANGED: presents " + pin.Short(e.SeenSHA256)
	case e.CertSHA256 != "":
		return "pinned " + pin.Short(e.CertSHA256)
	}
	return "-"
}

func trustEndpoint(ctx context.Context, stdio IO, path, name string) error {
	cfg, err := loadConfig(path, stdio)
	if err != nil {
		return err
	}
	e := cfg.Endpoint(name)
	if e == nil {
		return fmt.Errorf("no endpoint named %q in %s", name, cfg.File)
	}
	switch {
	case !agent.EndpointTypePins(e.Type):
		return fmt.Errorf("endpoint %s is a %s endpoint: otj-edge pins no certificate for it, so there is nothing to trust", name, e.Type)
	case e.Fingerprint != "":
		return fmt.Errorf("endpoint %s pins its certificate with fingerprint in %s:%d; change it there (and reload the agent)", name, cfg.File, e.Pos.Line("fingerprint"))
	case e.CAFile != "":
		return fmt.Errorf("endpoint %s verifies its certificate with ca_file (%s:%d); install a certificate on the codec that this CA signed, or change ca_file", name, cfg.File, e.Pos.Line("ca_file"))
	}
	// A writer of its own: SQLite serialises it with the running agent's (WAL, busy timeout).
	st, err := store.Open(ctx, cfg.DBPath(), store.Options{AppVersion: agent.Version})
	if err != nil {
		return err
	}
	defer st.Close()
	before, _, err := st.Endpoint(ctx, name)
	if err != nil {
		return err
	}
	after, err := st.TrustSeenCertificate(ctx, name)
	if errors.Is(err, store.ErrNothingToTrust) {
		return exitError{code: ExitFailure, err: fmt.Errorf("endpoint %s: its certificate has not changed (state %s); nothing to trust", name, before.State)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "%s: now trusting certificate %s\n  (was %s)\nThe running agent connects with it within %s.\n",
		name, pin.Colon(after.CertSHA256), pin.Colon(before.CertSHA256), 30*time.Second)
	return nil
}

// retryEndpoint has the running agent make one connection attempt to an endpoint now.
func retryEndpoint(ctx context.Context, stdio IO, path, name string, asJSON bool) error {
	cfg, err := loadConfig(path, stdio)
	if err != nil {
		return err
	}
	if cfg.Endpoint(name) == nil {
		return fmt.Errorf("no endpoint named %q in %s", name, cfg.File)
	}
	if why := agent.PulledEndpoint(cfg, name); why != "" {
		return fmt.Errorf("endpoint %s, so there is nothing to retry", why)
	}
	c, err := needAgent(ctx, cfg, "endpoints retry")
	if err != nil {
		return err
	}
	c.HTTP = &http.Client{Timeout: 2 * time.Minute} // the agent waits up to 45 s for the codec
	res, err := c.Action(ctx, web.ActionRetry, web.ActionRequest{Endpoint: name})
	if err != nil {
		return actionFailed(err)
	}
	if asJSON {
		err = writeJSON(stdio.Stdout, res)
	} else {
		_, err = fmt.Fprintln(stdio.Stdout, res.Message)
	}
	if err != nil {
		return err
	}
	if !res.OK {
		return exitError{code: ExitFailure}
	}
	return nil
}
