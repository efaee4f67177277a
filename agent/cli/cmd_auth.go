package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent"
	"github.com/otj-edge/otj-edge/agent/clock"
	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/web"
)

// loginClock paces the device-code polls (tests put a fake one here).
var loginClock clock.Clock = clock.Real{}

func init() {
	register(&command{
		name:    "auth",
		args:    "[--config FILE] [--json] login|status|logout INTEGRATION",
		summary: "sign a Graph integration's service account in (device code), show who is signed in, or sign it out",
		help: `For a Graph integration with auth: delegated (a service account that has been given access
to the room calendars, instead of an application permission):

  login   starts Microsoft's device-code sign-in: it prints a URL and a code; open the URL on
          any device, enter the code and sign in as the service account. The refresh token is
          stored encrypted in the state directory (its key in a file of its own there), and the
          running agent uses it at once.
  status  shows who is signed in, since when, the permissions granted and the last refresh.
  logout  deletes the stored token; the running agent's rooms turn auth_failed "signed out".

Microsoft recommends blocking the device-code flow with Conditional Access, and a block
applied later also stops the refreshes of a sign-in made with it: the durable alternative is
auth: app-only with a client certificate.`,
		flags: func(fs *flag.FlagSet) any { f := addOpFlags(fs); return &f },
		run: func(ctx context.Context, stdio IO, opts any, args []string) error {
			f := opts.(*opFlags)
			if len(args) != 2 {
				return usagef("give login, status or logout and the integration's name")
			}
			action, name := args[0], args[1]
			cfg, err := loadConfig(*f.config, stdio)
			if err != nil {
				return err
			}
			switch action {
			case "login":
				return authLogin(ctx, stdio, cfg, name, *f.json)
			case "status":
				st, err := agent.AuthStatus(cfg, name)
				if err != nil {
					return exitError{code: ExitFailure, err: err}
				}
				if *f.json {
					return writeJSON(stdio.Stdout, st)
				}
				printAccount(stdio.Stdout, st)
				if !st.SignedIn {
					return exitError{code: ExitFailure, err: fmt.Errorf("integration %q is signed out: run otj-edge auth login %s", name, name)}
				}
				return nil
			case "logout":
				had, err := agent.AuthLogout(cfg, name)
				if err != nil {
					return exitError{code: ExitFailure, err: err}
				}
				if had {
					fmt.Fprintf(stdio.Stdout, "Signed out: the stored token of integration %q is deleted.\n", name)
				} else {
					fmt.Fprintf(stdio.Stdout, "Integration %q was not signed in.\n", name)
				}
				tellAgent(ctx, stdio, cfg, "its rooms show \"signed out\" until someone runs otj-edge auth login "+name)
				return nil
			}
			return usagef("unknown auth action %q: give login, status or logout", action)
		},
	})
}

func authLogin(ctx context.Context, stdio IO, cfg *config.Config, name string, asJSON bool) error {
	prompt := stdio.Stdout
	if asJSON {
		prompt = stdio.Stderr
	}
	st, err := agent.AuthLogin(ctx, cfg, name, loginClock, func(dc agent.DeviceCode) error {
		fmt.Fprintf(prompt, "To sign in integration %q, open %s on any device and enter the code %s\n", name, dc.VerificationURI, dc.UserCode)
		fmt.Fprintf(prompt, "Sign in as the service account that has access to the room calendars. The code is valid until %s.\n",
			dc.Expires.Local().Format(time.Kitchen))
		if dc.Message != "" {
			fmt.Fprintf(prompt, "(Microsoft: %s)\n", strings.TrimSpace(dc.Message))
		}
		fmt.Fprintln(prompt, "Waiting for the sign-in…")
		return nil
	})
	if err != nil {
		return exitError{code: ExitFailure, err: err}
	}
	if asJSON {
		if err := writeJSON(stdio.Stdout, st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdio.Stdout, "Signed in as %s. Permissions: %s.\n", firstOf(st.User, "(unknown account)"), firstOf(st.Scopes, "(none listed)"))
		fmt.Fprintf(stdio.Stdout, "The refresh token is stored encrypted in %s.\n", st.Path)
	}
	tellAgent(ctx, stdio, cfg, "it uses the sign-in at its next start")
	return nil
}

// tellAgent asks a running agent to sync every room now, so a new sign-in or a sign-out takes
// effect at once (it would anyway at each room's next request).
func tellAgent(ctx context.Context, stdio IO, cfg *config.Config, otherwise string) {
	c, err := connectAgent(ctx, cfg)
	var nr *notRunning
	switch {
	case errors.As(err, &nr):
		fmt.Fprintf(stdio.Stderr, "The agent is not running; %s.\n", otherwise)
		return
	case err != nil:
		fmt.Fprintf(stdio.Stderr, "Could not reach the running agent (%v); its rooms pick the change up at their next sync.\n", err)
		return
	}
	if _, err := c.Action(ctx, web.ActionSync, web.ActionRequest{}); err != nil {
		fmt.Fprintf(stdio.Stderr, "The running agent did not take the sync request (%v); its rooms pick the change up at their next sync.\n", err)
		return
	}
	fmt.Fprintln(stdio.Stderr, "The running agent is syncing every room now.")
}

func printAccount(w io.Writer, st agent.AuthAccount) {
	if !st.SignedIn {
		fmt.Fprintf(w, "%s: signed out\n", st.Integration)
		return
	}
	tw := table(w)
	fmt.Fprintf(tw, "INTEGRATION\t%s\n", st.Integration)
	fmt.Fprintf(tw, "SIGNED IN AS\t%s\n", firstOf(st.User, "(unknown)"))
	if st.Name != "" {
		fmt.Fprintf(tw, "NAME\t%s\n", st.Name)
	}
	fmt.Fprintf(tw, "SINCE\t%s\n", st.SignedInAt.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "PERMISSIONS\t%s\n", st.Scopes)
	last := "never"
	if !st.LastRefresh.IsZero() {
		last = st.LastRefresh.Local().Format(time.DateTime)
	}
	fmt.Fprintf(tw, "LAST REFRESH\t%s\n", last)
	fmt.Fprintf(tw, "TOKEN FILE\t%s (encrypted)\n", st.Path)
	tw.Flush()
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
