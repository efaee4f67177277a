package exchange

import (
	"context"

	"github.com/otj-edge/otj-edge/store"
	"github.com/otj-edge/otj-edge/sync/calendar"
)

// EventDiagnosis is the event a room's new calendar processing finding raises (one per flag
// the room did not have).
const EventDiagnosis = "sync.diagnosis"

// Save diagnoses a room from its events and stores the findings when they differ from the
// ones it holds (state.Diagnosis, as read before the events), with an EventDiagnosis for
// each new flag. The processor calls it, through the agent, with the events it has just
// decoded to resolve the room, so a room's events are decoded once per change, not once more
// by its source (at a 1,000-room cold start that second decoding was about 1.2 s of CPU).
//
// exchange says whether the room's source reads an Exchange mailbox (Graph, EWS); a room of
// another source (Google) has no findings, and any it kept from an Exchange source it had
// before are cleared. It reports whether it wrote.
func Save(ctx context.Context, st *store.Store, state store.RoomState, exchange bool, events []calendar.Event) (bool, error) {
	var findings []store.Finding
	if exchange {
		findings = Diagnose(state.Mailbox, events)
	}
	if SameFindings(findings, state.Diagnosis) {
		return false, nil
	}
	wrote := false
	err := st.Write(ctx, func(tx *store.Tx) error {
		// The findings held now: another resolve of the room may have saved these already.
		now, ok, err := tx.Room(state.Mailbox)
		if err != nil || !ok || SameFindings(findings, now.Diagnosis) {
			return err
		}
		if err := tx.PutDiagnosis(state.Mailbox, findings); err != nil {
			return err
		}
		wrote = true
		had := map[string]bool{}
		for _, f := range now.Diagnosis {
			had[f.Flag] = true
		}
		for _, f := range findings {
			if had[f.Flag] {
				continue
			}
			if err := tx.Emit(store.Event{Kind: EventDiagnosis, Level: "warn", Room: state.Mailbox,
				Message: state.Mailbox + ": " + f.Detail,
				Data:    map[string]any{"flag": f.Flag, "fix": f.Fix, "integration": now.Integration}}); err != nil {
				return err
			}
		}
		return nil
	})
	return wrote, err
}
