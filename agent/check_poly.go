package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/agent/config"
	"github.com/otj-edge/otj-edge/device/poly"
	"github.com/otj-edge/otj-edge/store"
)

// checkPoly (the Poly row's check, endpoints_poly.go) checks what the Poly side needs: the calendar service's certificate, and each Poly
// endpoint's REST API where an address is configured (login, model, firmware, the endpoint's
// own calendaring state). A device certificate pinned by the running agent is honoured.
func checkPoly(ctx context.Context, cfg *config.Config, w io.Writer) (failed int) {
	if !cfg.HasPoly() {
		return 0
	}
	info, err := poly.CertificateInfo(cfg.EWS.CertFile, cfg.EWS.KeyFile, cfg.StateDir, time.Now())
	if err != nil {
		fmt.Fprintf(w, "FAIL  ews: %s\n", err)
		failed++
	} else {
		fmt.Fprintf(w, "ok    ews: %s\n", info)
	}
	pins := map[string]string{}
	synced := map[string]bool{} // rooms whose calendar has synced from this store
	if st, err := store.Open(ctx, cfg.DBPath(), store.Options{ReadOnly: true}); err == nil {
		if eps, err := st.Endpoints(ctx); err == nil {
			for _, e := range eps {
				pins[e.Name] = e.CertSHA256
			}
		}
		if rooms, err := st.Rooms(ctx); err == nil {
			for _, r := range rooms { // the calendar service's own test (store.RoomResolved)
				synced[r.Mailbox], _, _ = st.RoomResolved(ctx, r.Mailbox)
			}
		}
		st.Close()
	}
	for _, a := range polyOptions(cfg).Endpoints {
		if a.Address == "" {
			continue
		}
		r, err := poly.CheckREST(ctx, a, pins[a.Name])
		switch {
		case err != nil:
			fmt.Fprintf(w, "FAIL  poly %s: REST %s: %s\n", a.Name, a.Address, err)
			failed++
		case r.Calendar == "OFFLINE" && !synced[strings.ToLower(a.Room)]:
			// The calendar service answers "busy, retry" until the room's first sync, so the
			// endpoint keeps what it shows: OFFLINE is expected until then.
			fmt.Fprintf(w, "FAIL  poly %s: %s %s reports its calendaring as OFFLINE: expected until room %s has synced its calendar once (the calendar service tells the endpoint to keep its meetings and retry)\n",
				a.Name, r.Model, r.Software, a.Room)
			failed++
		case r.Calendar != "ONLINE":
			fmt.Fprintf(w, "FAIL  poly %s: %s %s reports its calendaring as %s\n", a.Name, r.Model, r.Software, r.Calendar)
			failed++
		default:
			fmt.Fprintf(w, "ok    poly %s: %s %s, calendaring ONLINE (certificate SHA-256 %s)\n", a.Name, r.Model, r.Software, r.SHA256)
		}
	}
	return failed
}
