package telemetry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/otj-edge/otj-edge/agent/report"
)

// TopicReport carries the site's daily report (agent/report), retained: a dashboard that
// subscribes at any time sees the newest one.
const TopicReport = "report"

// reportRetry is how soon a report the broker did not acknowledge is published again.
const reportRetry = 30 * time.Second

// reportLoop publishes the newest daily report, retained, when a new one is made and again on
// every new connection (the broker may have lost its retained messages). The report is kept
// in the store, so nothing is lost while the link is down.
func (t *Telemetry) reportLoop(ctx context.Context) {
	made := t.store.Subscribe(report.Topic)
	defer made.Close()
	var sentOn *link // the link the report was last published on
	var sentID string
	retry := t.clock.NewTimer(reportRetry)
	defer retry.Stop()
	for {
		if l := t.link.Load(); l != nil && l.up() {
			payload, err := report.LatestJSON(ctx, t.store)
			id := reportID(payload)
			switch {
			case err != nil:
				t.log.Warn("read the daily report", "err", err)
			case payload == nil || (l == sentOn && id == sentID):
			default:
				if err := t.publishNow(ctx, TopicReport, true, payload); err != nil {
					t.log.Debug("daily report not published; trying again", "err", err)
					retry.Reset(reportRetry)
				} else {
					sentOn, sentID = l, id
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-made.C:
			made.Take()
		case <-t.reportWake:
		case <-retry.C():
		}
	}
}

func reportID(payload []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &r) // a report the agent wrote always decodes
	return r.ID
}
