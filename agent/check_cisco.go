package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/cisco"
	"github.com/otj-edge/otj-edge/device/pin"
	"github.com/otj-edge/otj-edge/store"
)

// checkParallel bounds how many codecs `check` talks to at once.
const checkParallel = 16

// checkCisco (the Cisco row's check, endpoints_cisco.go) connects to every Cisco codec once: credentials, the user's role, firmware and
// whether Bookings Put is available. One line per codec, in config order; never more than one
// login attempt per codec (codecs lock an account after 5 failures).
func checkCisco(ctx context.Context, cfg *config.Config, w io.Writer) int {
	eps := endpointsOf(cfg, config.EndpointCisco)
	if len(eps) == 0 {
		return 0
	}
	pins := storedPins(ctx, cfg)
	lines := make([]string, len(eps))
	failed := make([]bool, len(eps))
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for i, e := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			lines[i], failed[i] = checkOneCodec(ctx, e, pins[e.Name])
		}()
	}
	wg.Wait()
	n := 0
	for i := range eps {
		fmt.Fprintln(w, lines[i])
		if failed[i] {
			n++
		}
	}
	return n
}

// storedPins reads the agent's certificate pins when its store exists (read-only; the agent
// may be running).
func storedPins(ctx context.Context, cfg *config.Config) map[string]string {
	pins := map[string]string{}
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		return pins
	}
	st, err := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true})
	if err != nil {
		return pins
	}
	defer st.Close()
	eps, err := st.Endpoints(ctx)
	if err != nil {
		return pins
	}
	for _, e := range eps {
		pins[e.Name] = e.CertSHA256
	}
	return pins
}

func checkOneCodec(ctx context.Context, e config.Endpoint, stored string) (string, bool) {
	name := "cisco/" + e.Name
	res, err := cisco.Probe(ctx, ciscoEndpoint(e), stored)
	if err != nil {
		msg := strings.ReplaceAll(probeError(e, err), e.Password.Value(), config.Redacted)
		return fmt.Sprintf("FAIL  %s: %s", name, msg), true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s", res.URL, orUnknown(res.Product))
	if res.SystemName != "" {
		fmt.Fprintf(&b, " %q", res.SystemName)
	}
	fmt.Fprintf(&b, ", %s", res.Firmware.Label())
	switch {
	case res.Admin:
		fmt.Fprintf(&b, "; user %s is Admin", e.Username)
	case res.RoleKnown:
		fmt.Fprintf(&b, "; user %s is not Admin", e.Username)
	default:
		fmt.Fprintf(&b, "; roles of user %s unknown", e.Username)
	}
	if res.PutAvailable {
		b.WriteString("; Bookings Put available")
	} else {
		b.WriteString("; Bookings Put NOT available")
	}
	if res.PutNote != "" {
		fmt.Fprintf(&b, " (%s)", res.PutNote)
	}
	fmt.Fprintf(&b, "; %d bookings on the codec", res.Bookings)
	switch {
	case e.CAFile != "":
		b.WriteString("; certificate verified with ca_file")
	case res.Pinned:
		fmt.Fprintf(&b, "; certificate matches the pin %s", pin.Short(res.Fingerprint))
	default:
		fmt.Fprintf(&b, "; certificate %s not pinned yet (the agent pins it on first connection)", pin.Colon(res.Fingerprint))
	}
	status := "ok  "
	bad := false
	switch {
	case !res.PutAvailable && (res.RoleKnown || !res.Firmware.Caps().WebSocket):
		status, bad = "FAIL", true
	case !res.PutAvailable || !res.RoleKnown:
		status = "warn"
	}
	return fmt.Sprintf("%s  %s: %s", status, name, b.String()), bad
}

func probeError(e config.Endpoint, err error) string {
	var (
		he  *cisco.HandshakeError
		cce *cisco.CertChangedError
	)
	switch {
	case errors.As(err, &he) && he.Status == 403:
		return fmt.Sprintf("wrong username or password for user %s (HTTP 403); not retried: the codec locks the account after 5 failed logins", e.Username)
	case errors.As(err, &cce) && e.Fingerprint != "":
		return fmt.Sprintf("certificate %s does not match fingerprint %s in the config (credentials not sent)",
			pin.Colon(cce.Presented), pin.Short(cce.Pinned))
	case errors.As(err, &cce):
		return fmt.Sprintf("certificate changed: the codec presents %s, the agent pinned %s (credentials not sent); if expected, accept it with: otj-edge endpoints trust %s",
			pin.Colon(cce.Presented), pin.Short(cce.Pinned), e.Name)
	}
	return err.Error()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown product"
	}
	return s
}
