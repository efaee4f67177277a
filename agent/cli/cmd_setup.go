package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/m365setup"
	"github.com/otj-edge/otj-edge/store"
)

type setupFlags struct {
	config, integration, group, objectID *string
	all, legacy, ews, detect             *bool
}

func init() {
	register(&command{
		name:    "setup",
		args:    "microsoft365 [--config FILE] [--integration NAME] [--group G] [--all] [--legacy-policy | --ews] [--detect-consent]",
		summary: "print the PowerShell that lets otj-edge read exactly the configured rooms",
		help: `setup microsoft365 prints, in order, the PowerShell an Exchange or Entra administrator runs for
an integration of the config: Exchange's service principal for the app, a management scope
of exactly the configured rooms (their addresses, or --group, a mail-enabled security group
it fills), the "Application Calendars.Read" role assignment (RBAC for Applications),
Test-ServicePrincipalAuthorization per room, Set-CalendarProcessing for the rooms whose
diagnosis (from the store, once synced) found a problem (every room with --all), and the
app's admin-consent link. Every step looks before it changes anything.

--legacy-policy prints the application access policy instead (tenants that still use one);
--ews the set-up of an ews integration on Exchange Server (a scope and ApplicationImpersonation,
or Reviewer on each room's calendar with access: delegate). --detect-consent asks Entra for
a token and reads its roles: an app holding Calendars.Read with admin consent can read every
mailbox whatever the scope says, and the script then says so first.`,
		flags: func(fs *flag.FlagSet) any {
			return &setupFlags{
				config:      configFlag(fs),
				integration: fs.String("integration", "", "the integration to set up (default: the only graph one, or ews one with --ews)"),
				group:       fs.String("group", "", "scope by this mail-enabled security group (its address), created and filled with the rooms"),
				objectID:    fs.String("object-id", "", "the app's Object ID on Entra's Enterprise applications page"),
				all:         fs.Bool("all", false, "Set-CalendarProcessing on every room, not only the diagnosed ones"),
				legacy:      fs.Bool("legacy-policy", false, "New-ApplicationAccessPolicy instead of RBAC for Applications"),
				ews:         fs.Bool("ews", false, "the set-up of an ews integration (Exchange Server)"),
				detect:      fs.Bool("detect-consent", false, "ask Entra for a token and warn when the app holds tenant-wide Calendars.Read"),
			}
		},
		run: runSetup,
	})
}

func runSetup(ctx context.Context, stdio IO, opts any, args []string) error {
	f := opts.(*setupFlags)
	if len(args) != 1 || args[0] != "microsoft365" {
		return usagef("use otj-edge setup microsoft365 (see otj-edge setup --help)")
	}
	if *f.legacy && *f.ews {
		return usagef("--legacy-policy and --ews are different set-ups: give one")
	}
	// The script needs no secret; --detect-consent needs the client secret.
	cfg, err := config.LoadWith(*f.config, config.Options{LookupEnv: stdio.Env, SkipSecrets: !*f.detect})
	if err != nil {
		return err
	}
	want := config.IntegrationGraph
	if *f.ews {
		want = config.IntegrationEWS
	}
	in, err := pickIntegration(cfg, *f.integration, want)
	if err != nil {
		return err
	}
	p := m365setup.Plan{Site: cfg.Site, Integration: in.Name, Group: *f.group, All: *f.all, ObjectID: *f.objectID}
	switch {
	case *f.ews:
		e := in.EWS()
		p.Account, p.Mode = e.Username, m365setup.EWSImpersonation
		if e.Access == "delegate" {
			p.Mode = m365setup.EWSDelegate
		}
	default:
		g := in.Graph()
		p.AppID, p.TenantID = g.ClientID, g.Tenant
		if *f.legacy {
			p.Mode = m365setup.LegacyPolicy
		}
		if *f.detect {
			p.Consent, p.Roles, err = detectConsent(ctx, g)
			if err != nil {
				fmt.Fprintf(stdio.Stderr, "otj-edge setup: consent not detected: %s\n", err)
			}
		}
	}
	p.Rooms, err = setupRooms(ctx, cfg, in.Name)
	if err != nil {
		return err
	}
	if len(p.Rooms) == 0 {
		return usagef("integration %q has no rooms in %s: add endpoints with a room first", in.Name, cfg.File)
	}
	_, err = fmt.Fprint(stdio.Stdout, m365setup.Script(p))
	return err
}

func pickIntegration(cfg *config.Config, name, typ string) (*config.Integration, error) {
	if name != "" {
		in := cfg.Integration(name)
		if in == nil {
			return nil, usagef("integration %q is not in %s", name, cfg.File)
		}
		if in.Type != typ {
			return nil, usagef("integration %q is of type %s; this set-up is for %s (--ews for ews)", name, in.Type, typ)
		}
		return in, nil
	}
	var found []*config.Integration
	for i := range cfg.Integrations {
		if cfg.Integrations[i].Type == typ {
			found = append(found, &cfg.Integrations[i])
		}
	}
	if len(found) != 1 {
		var names []string
		for _, in := range found {
			names = append(names, in.Name)
		}
		return nil, usagef("%s has %d %s integrations (%s): give --integration", cfg.File, len(found), typ, strings.Join(names, ", "))
	}
	return found[0], nil
}

// setupRooms are the integration's rooms with their diagnosis from the store, when there is
// one (read-only: the running agent keeps writing).
func setupRooms(ctx context.Context, cfg *config.Config, integration string) ([]m365setup.Room, error) {
	var rooms []m365setup.Room
	var names []string
	for _, r := range cfg.Rooms() {
		if r.Integration == integration {
			rooms = append(rooms, m365setup.Room{Mailbox: r.Mailbox})
			names = append(names, r.Mailbox)
		}
	}
	sort.Strings(names)
	if _, err := os.Stat(cfg.DBPath()); errors.Is(err, fs.ErrNotExist) || len(rooms) == 0 {
		return rooms, nil
	}
	st, err := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read the rooms' diagnosis: %w", err)
	}
	defer st.Close()
	states, err := st.RoomsNamed(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read the rooms' diagnosis: %w", err)
	}
	by := map[string]store.RoomState{}
	for _, s := range states {
		by[s.Mailbox] = s
	}
	for i := range rooms {
		if s, ok := by[rooms[i].Mailbox]; ok && !s.LastSuccess.IsZero() {
			rooms[i].Diagnosed, rooms[i].Findings = true, s.Diagnosis
		}
	}
	return rooms, nil
}

func detectConsent(ctx context.Context, g *config.Graph) (m365setup.Consent, []string, error) {
	if !g.ClientSecret.IsSet() {
		return m365setup.ConsentUnknown, nil, errors.New("the integration has no client secret (a certificate is not supported here)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if g.CAFile != "" {
		pem, err := os.ReadFile(g.CAFile)
		if err != nil {
			return m365setup.ConsentUnknown, nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	scope := "https://graph.microsoft.com/.default"
	if u, err := url.Parse(g.GraphURL); err == nil && u.Host != "" {
		scope = u.Scheme + "://" + u.Host + "/.default"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return m365setup.DetectConsent(ctx, m365setup.TokenRequest{TokenURL: g.TokenURL, ClientID: g.ClientID,
		ClientSecret: g.ClientSecret.Value(), Scope: scope, Client: &http.Client{Transport: tr}})
}
