package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/agent/pexipimport"
)

type importFlags struct {
	out, report, site           string
	url, user, passwordFile, ca string
	includeSecrets, force       bool
}

func init() {
	register(&command{
		name:    "import",
		args:    "pexip [--out FILE] [--site S] (EXPORT-DIR|FILE... | --url https://MANAGER --user U --password-file F)",
		summary: "write an otj-edge config from a Pexip One-Touch Join configuration",
		help: `import pexip reads a Pexip Infinity One-Touch Join configuration and writes an otj-edge
config with the same integrations, profiles (processing settings key by key), rules and
endpoints, commented with the Pexip field each value came from.

The configuration is either the JSON lists the Management Node's configuration API returns
(GET /api/admin/configuration/v1/<object>/ for mjx_integration, mjx_graph_deployment,
mjx_exchange_deployment, mjx_google_deployment, mjx_endpoint_group, mjx_endpoint and
mjx_meeting_processing_rule), saved as files or a directory of <object>.json files, or
fetched from the Management Node itself with --url, --user and --password-file.

Secrets are written as ${OTJ_…} environment variables (the report lists their names), never in
clear unless --include-secrets. A Google deployment's service account key is a file the config
names beside itself (<integration>-key.json; the report lists it). Jinja2 templates are
translated to Go templates where Pexip's documented forms allow; anything else, and Pexip's
meeting types otj-edge refuses (SIP Guest Join, with the rules engine's reason), is written
commented out. The report (stderr, or --report FILE) lists what was imported, every field
with no equivalent and why, and what needs a decision. The written config is loaded once
before the command ends (as check --offline does, without the secrets).`,
		flags: func(fs *flag.FlagSet) any {
			f := &importFlags{}
			fs.StringVar(&f.out, "out", "", "write the config to `FILE` (default: standard output)")
			fs.StringVar(&f.report, "report", "", "write the report to `FILE` (default: standard error)")
			fs.StringVar(&f.site, "site", "", "the site id to write (Pexip has none; default site-1)")
			fs.StringVar(&f.url, "url", "", "fetch from this Management Node (https://manager.example.com)")
			fs.StringVar(&f.user, "user", "", "Management Node administrator for --url")
			fs.StringVar(&f.passwordFile, "password-file", "", "`file` holding that administrator's password")
			fs.StringVar(&f.ca, "ca-file", "", "PEM `file` of the CA that signed the Management Node's certificate")
			fs.BoolVar(&f.includeSecrets, "include-secrets", false, "write the secrets the export holds in clear")
			fs.BoolVar(&f.force, "force", false, "overwrite --out when it exists")
			return f
		},
		run: runImport,
	})
}

func runImport(ctx context.Context, stdio IO, opts any, args []string) error {
	f := opts.(*importFlags)
	if len(args) == 0 || args[0] != "pexip" {
		return usagef("missing source: use otj-edge import pexip (see otj-edge import --help)")
	}
	paths := args[1:]
	var e *pexipimport.Export
	var err error
	source := strings.Join(paths, ", ")
	switch {
	case f.url != "" && len(paths) > 0:
		return usagef("give export files or --url, not both")
	case f.url != "":
		if f.user == "" || f.passwordFile == "" {
			return usagef("--url needs --user and --password-file")
		}
		pw, rerr := os.ReadFile(f.passwordFile)
		if rerr != nil {
			return fmt.Errorf("read --password-file: %w", rerr)
		}
		e, err = pexipimport.Fetch(ctx, pexipimport.FetchOptions{URL: f.url, Username: f.user,
			Password: strings.TrimRight(string(pw), "\r\n"), CAFile: f.ca})
		source = f.url
	case len(paths) == 0:
		return usagef("give the export (a directory of <object>.json files, or the files), or --url")
	default:
		e, err = pexipimport.ReadPaths(paths)
	}
	if err != nil {
		return err
	}
	if f.out != "" && !f.force {
		if _, serr := os.Stat(f.out); serr == nil {
			return usagef("%s exists: give --force to overwrite it, or another --out", f.out)
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("check --out: %w", serr)
		}
	}
	res, err := pexipimport.Import(e, pexipimport.Options{Site: f.site, IncludeSecrets: f.includeSecrets, Source: source})
	if err != nil {
		return err
	}
	// Load what was written as check --offline would (secrets are not needed to judge it).
	name := f.out
	if name == "" {
		name = "imported.yaml"
	}
	_, lerr := config.Parse(name, res.Config, config.Options{LookupEnv: stdio.Env, SkipSecrets: true})
	report := res.Report.String()
	if lerr != nil {
		report += "The written config does not load (fix these, then run otj-edge check --offline):\n" + lerr.Error() + "\n"
	} else {
		report += "The written config loads; set the secrets above (and save the key files), then run otj-edge check --offline and otj-edge check.\n"
	}
	if f.out != "" {
		// 0600: with --include-secrets the file holds them.
		if werr := os.WriteFile(f.out, res.Config, 0o600); werr != nil {
			return fmt.Errorf("write config: %w", werr)
		}
	} else if _, werr := stdio.Stdout.Write(res.Config); werr != nil {
		return fmt.Errorf("write config: %w", werr)
	}
	if f.report != "" {
		if werr := os.WriteFile(f.report, []byte(report), 0o644); werr != nil {
			return fmt.Errorf("write report: %w", werr)
		}
	} else {
		fmt.Fprint(stdio.Stderr, report)
	}
	if lerr != nil {
		return exitError{code: ExitFailure}
	}
	return nil
}
