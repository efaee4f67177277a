package config

import (
	"strings"
	"time"
)

// Report is the daily report (report:): once a day, at Time in the host's time zone, the
// agent sums up the day before (rooms synced and failing, pushes, Poly polls, requests
// against each budget, meetings with a Join button nobody joined from the room) and shows it
// on the status page, `otj-edge report` and MQTT (otj/v1/<site>/report, retained).
type Report struct {
	// Time is the local time of day ("07:00"); default 07:00; "off" turns the report off.
	Time string `yaml:"time"`
	Pos  Pos    `yaml:"-"`
}

// DefaultReportTime is when the report is made unless the config says otherwise: before a
// facility team's working day, after the night's syncs.
const DefaultReportTime = "07:00"

// Enabled reports whether a daily report is made.
func (r Report) Enabled() bool { return r.Time != "off" }

// At is the configured time of day as an offset from local midnight (valid after Load).
func (r Report) At() time.Duration {
	t, err := time.Parse("15:04", r.Time)
	if err != nil {
		return 7 * time.Hour
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

func (l *loader) reportSection(c *Config) {
	r := &c.Report
	r.Time = strings.TrimSpace(r.Time)
	if r.Time == "" {
		r.Time = DefaultReportTime
	}
	if r.Time == "off" {
		return
	}
	if _, err := time.Parse("15:04", r.Time); err != nil {
		l.errorf(r.Pos.Line("time"), `report.time %q is not a time of day such as "07:00" (24-hour HH:MM, local time), or "off"`, r.Time)
	}
}
