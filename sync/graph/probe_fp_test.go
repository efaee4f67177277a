package graph

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// refItem and refFingerprint are how the probe read a room's items before probe_fp.go:
// decoded with encoding/json, whole items kept. probeRead must find the same rooms, errors
// and items, and its fingerprints must compare as these did.
type refItem struct {
	start, end int64
	h          uint64
}

func refFingerprint(items []scheduleItem, ws, we time.Time) ([]refItem, bool) {
	var out []refItem
	details := false
	seen := map[refItem]bool{}
	for _, it := range items {
		st, ok1 := it.Start.time()
		en, ok2 := it.End.time()
		if !ok1 || !ok2 || !en.After(ws) || !st.Before(we) {
			continue
		}
		h := fnv.New64a()
		priv := "0"
		if it.IsPrivate {
			priv = "1"
		}
		h.Write([]byte(strings.ToLower(it.Status) + "\x00" + it.Subject + "\x00" + it.Location + "\x00" + priv))
		fi := refItem{start: st.Unix(), end: en.Unix(), h: h.Sum64()}
		if !seen[fi] {
			seen[fi] = true
			out = append(out, fi)
		}
		if it.Subject != "" {
			details = true
		}
	}
	return out, details
}

// refWithin is the old comparison's view of items over [from, to).
func refWithin(items []refItem, from, to int64) []fpWide {
	var out []fpWide
	for _, it := range items {
		if it.end <= from || it.start >= to {
			continue
		}
		out = append(out, fpWide{start: max(it.start, from), end: min(it.end, to), h: it.h})
	}
	sortWide(out)
	return out
}

// refRead is the old probe's reading of answers for rooms over [ws, ends[k]).
func refRead(t *testing.T, bodies [][]byte, rooms []string, ws time.Time, ends []time.Time) ([]roomRead, [][]refItem, bool) {
	items := map[string][]scheduleItem{}
	errs := map[string]string{}
	for _, body := range bodies {
		var ans scheduleAnswer
		if err := json.Unmarshal(body, &ans); err != nil {
			return nil, nil, false
		}
		for _, info := range ans.Value {
			m := strings.ToLower(strings.TrimSpace(info.ScheduleID))
			if info.Error != nil {
				errs[m] = strings.TrimSpace(info.Error.ResponseCode + ": " + info.Error.Message)
				continue
			}
			items[m] = append(items[m], info.Items...)
		}
	}
	got := make([]roomRead, len(rooms))
	fps := make([][]refItem, len(rooms))
	for k, m := range rooms {
		_, got[k].present = items[m]
		got[k].msg, got[k].bad = errs[m]
		fps[k], got[k].details = refFingerprint(items[m], ws, ends[k])
	}
	return got, fps, true
}

// FuzzProbeRead: from any two answers (a job of two segments), the probe finds what it found
// with encoding/json: the same rooms present or in error (with the same message), the same
// items in each room's fingerprint over any part of its window, the same details flag.
func FuzzProbeRead(f *testing.F) {
	body, _ := scheduleAnswerBody(3, 4)
	f.Add(body, []byte(`{"value":[{"scheduleId":" ROOM-002@contoso.example ","scheduleItems":[{"status":"Busy","start":{"dateTime":"2026-11-23T09:00:00Z","timeZone":"UTC"},"end":{"dateTime":"2026-11-23T10:00:00.5","timeZone":"utc"}}]}]}`), int64(0), int64(3600))
	for _, s := range scheduleSeeds {
		f.Add([]byte(s), []byte(`{"value":[{"scheduleId":"room-001@contoso.example","error":{"message":"m","responseCode":"c"}}]}`), int64(-7200), int64(600))
	}
	f.Add([]byte(`{"value":[{"scheduleId":"room-001@contoso.example","scheduleItems":[{"status":"BUSY","subject":"x","start":{"dateTime":"2026-02-29T09:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-11-23T24:00:00","timeZone":"UTC"}},{"status":"Tentative","start":{"dateTime":"2026-11-23T08:59:59.123456789123","timeZone":""},"end":{"dateTime":"2026-11-23T9:30:00","timeZone":" UTC "}}]}]}`), []byte(`null`), int64(100), int64(-100))
	rooms := []string{"room-001@contoso.example", "room-002@contoso.example", "room-003@contoso.example"}
	f.Fuzz(func(t *testing.T, a, b []byte, from, to int64) {
		ws := t0.Add(-time.Hour)
		ends := []time.Time{t0.Add(3 * time.Hour), t0.Add(7 * 24 * time.Hour), t0.Add(time.Minute)}
		want, wantFPs, ok := refRead(t, [][]byte{a, b}, rooms, ws, ends)
		j := probeJob{rooms: rooms, ws: ws, we: t0.Add(7 * 24 * time.Hour), roomEnd: map[string]time.Time{}}
		for k, m := range rooms {
			j.roomEnd[m] = ends[k]
		}
		rd := newProbeRead(j)
		defer rd.done()
		sc := new(schedScan)
		for _, body := range [][]byte{a, b} {
			err := scanSchedule(sc, body)
			require.Equal(t, ok, err == nil, "refused alike: %v", err)
			if err != nil {
				return
			}
			rd.add(sc)
		}
		rd.finish()
		for k := range rooms {
			w, g := want[k], rd.got[k]
			require.Equal(t, [2]bool{w.present, w.bad}, [2]bool{g.present, g.bad}, rooms[k])
			require.Equal(t, w.msg, g.msg)
			if !g.present || g.bad {
				require.Nil(t, g.fp)
				continue
			}
			require.Equal(t, w.details, g.fp.details)
			// Over the whole window, and over any part of it.
			lo, hi := ws.Unix(), ends[k].Unix()
			var scratch []fpWide
			require.Equal(t, refWithin(wantFPs[k], lo, hi), nilIfEmpty(g.fp.within(lo, hi, scratch)))
			a, b := lo+mod(from, hi-lo), lo+mod(to, hi-lo)
			if a < b {
				require.Equal(t, refWithin(wantFPs[k], a, b), nilIfEmpty(g.fp.within(a, b, nil)))
			}
		}
	})
}

func mod(v, n int64) int64 {
	if n <= 0 {
		return 0
	}
	return ((v % n) + n) % n
}

func nilIfEmpty(v []fpWide) []fpWide {
	if len(v) == 0 {
		return nil
	}
	return slices.Clip(v)
}
