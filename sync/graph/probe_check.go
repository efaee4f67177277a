package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/otj-edge/otj-edge/store"
)

// ProbeCheck is the change probe's part of `otj-edge check`: whether getSchedule answers for
// the readable rooms, and whether it shows subjects (LimitedDetails) or free/busy only.
type ProbeCheck struct {
	OK     bool
	Detail string
	// Advice is what would let the probe see more (subjects), when it sees less; never a
	// requirement: the room's own polls find what the probe cannot see.
	Advice string
}

// checkProbe sends one getSchedule for up to 20 of the readable rooms over the next 7 days.
func checkProbe(ctx context.Context, a *api, in Integration, checked []RoomCheck) ProbeCheck {
	var names []string
	for _, rc := range checked {
		if rc.Status == store.RoomOK && len(names) < maxSchedules {
			names = append(names, rc.Mailbox)
		}
	}
	if len(names) == 0 {
		return ProbeCheck{Detail: "not tried: no room is readable"}
	}
	now := time.Now()
	res := a.getSchedule(ctx, names[0], names, now, now.Add(7*24*time.Hour))
	if !res.ok() {
		f := classify(res, names[0], in.ClientID)
		return ProbeCheck{Detail: "getSchedule failed (" + f.detail + "); the rooms are polled at the usual intervals instead"}
	}
	var ans scheduleAnswer
	if err := json.Unmarshal(res.body, &ans); err != nil {
		return ProbeCheck{Detail: "getSchedule's answer is not valid JSON; the rooms are polled at the usual intervals instead"}
	}
	var errs, withItems, withSubjects []string
	for _, info := range ans.Value {
		m := strings.ToLower(info.ScheduleID)
		switch {
		case info.Error != nil:
			errs = append(errs, m+" ("+oneLine(info.Error.ResponseCode+": "+info.Error.Message)+")")
		case len(info.Items) > 0:
			withItems = append(withItems, m)
			for _, it := range info.Items {
				if it.Subject != "" {
					withSubjects = append(withSubjects, m)
					break
				}
			}
		}
	}
	pc := ProbeCheck{OK: len(errs) < len(names)}
	switch {
	case len(withItems) == 0:
		pc.Detail = "getSchedule answers for " + rooms(len(names)-len(errs)) + "; none has a meeting in the next 7 days, so whether subjects show is not known"
	case len(withSubjects) == len(withItems):
		pc.Detail = "getSchedule answers for " + rooms(len(names)-len(errs)) + " and shows subjects (LimitedDetails): subject edits and moves are found within seconds"
	default:
		pc.Detail = fmt.Sprintf("getSchedule answers for %s; %d of the %d with meetings show free/busy only (AvailabilityOnly): moves are found within seconds, subject edits at the rooms' own polls",
			rooms(len(names)-len(errs)), len(withItems)-len(withSubjects), len(withItems))
		example := firstNonEmpty(missing(withItems, withSubjects), "room@example.com")
		pc.Advice = "to let the probe see subject edits too, share limited details of the room calendars: Set-MailboxFolderPermission -Identity " +
			example + `:\Calendar -User Default -AccessRights LimitedDetails (optional)`
	}
	if len(errs) > 0 {
		pc.Detail += "; getSchedule named an error for " + strings.Join(errs, ", ") + " (polled as usual)"
	}
	return pc
}

// rooms is "1 room" or "n rooms".
func rooms(n int) string {
	if n == 1 {
		return "1 room"
	}
	return fmt.Sprintf("%d rooms", n)
}

// missing is the first of all that is not in some.
func missing(all, some []string) string {
	have := map[string]bool{}
	for _, s := range some {
		have[s] = true
	}
	for _, a := range all {
		if !have[a] {
			return a
		}
	}
	return ""
}

// lines renders the probe check (never a failure: polling covers the rooms without it).
func (pc *ProbeCheck) lines(prefix string) []string {
	if !pc.OK {
		return []string{fmt.Sprintf("%s: change probe: not available: %s", prefix, pc.Detail)}
	}
	out := []string{fmt.Sprintf("%s: change probe: ok, %s", prefix, pc.Detail)}
	if pc.Advice != "" {
		out = append(out, fmt.Sprintf("%s: change probe: advice: %s", prefix, pc.Advice))
	}
	return out
}
