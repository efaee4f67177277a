package graph

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// scheduleAnswerBody is a getSchedule answer as Graph sends it (LimitedDetails): rooms mailboxes,
// each with perRoom meetings of an hour from t0 on, and the parts the probe does not read
// (availabilityView, workingHours).
func scheduleAnswerBody(rooms, perRoom int) ([]byte, []string) {
	var b strings.Builder
	var names []string
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)","value":[`)
	for r := range rooms {
		m := fmt.Sprintf("room-%03d@contoso.example", r+1)
		names = append(names, m)
		if r > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"scheduleId":%q,"availabilityView":"%s","scheduleItems":[`, m, strings.Repeat("02", 4))
		for i := range perRoom {
			if i > 0 {
				b.WriteByte(',')
			}
			st := t0.Add(time.Duration(i) * 3 * time.Hour)
			fmt.Fprintf(&b, `{"isPrivate":false,"status":"busy","subject":"Weekly sync %d of team %d","location":"Room %d",`+
				`"start":{"dateTime":%q,"timeZone":"UTC"},"end":{"dateTime":%q,"timeZone":"UTC"}}`,
				i, r, r+1, st.Format("2006-01-02T15:04:05.0000000"), st.Add(time.Hour).Format("2006-01-02T15:04:05.0000000"))
		}
		b.WriteString(`],"workingHours":{"daysOfWeek":["monday","tuesday","wednesday","thursday","friday"],"startTime":"08:00:00.0000000","endTime":"17:00:00.0000000","timeZone":{"name":"UTC"}}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String()), names
}

// BenchmarkProbeAnswer is what the probe spends on one cold getSchedule answer (20 rooms of
// 50 meetings each over a week): reading it and making each room's fingerprint, as it was
// (encoding/json, whole items) and as it is (scanSchedule, probeRead).
func BenchmarkProbeAnswer(b *testing.B) {
	body, names := scheduleAnswerBody(20, 50)
	ws, we := t0.Add(-time.Hour), t0.Add(7*24*time.Hour)
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var ans scheduleAnswer
			if err := json.Unmarshal(body, &ans); err != nil {
				b.Fatal(err)
			}
			items := map[string][]scheduleItem{}
			for _, info := range ans.Value {
				m := strings.ToLower(strings.TrimSpace(info.ScheduleID))
				items[m] = append(items[m], info.Items...)
			}
			for _, m := range names {
				_, _ = refFingerprint(items[m], ws, we)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		j := probeJob{rooms: names, ws: ws, we: we, roomEnd: map[string]time.Time{}}
		for _, m := range names {
			j.roomEnd[m] = we
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			rd := newProbeRead(j)
			sc := schedPool.Get().(*schedScan)
			if err := scanSchedule(sc, body); err != nil {
				b.Fatal(err)
			}
			rd.add(sc)
			rd.finish()
			if rd.got[19].fp == nil || len(rd.got[19].fp.items) != 50 {
				b.Fatal("room 20 not read")
			}
			schedPool.Put(sc)
			rd.done()
		}
	})
}

// BenchmarkFingerprintRetained is what 1,000 rooms' fingerprints keep live (50 meetings a
// room over the week's window).
func BenchmarkFingerprintRetained(b *testing.B) {
	body, names := scheduleAnswerBody(20, 50)
	ws, we := t0.Add(-time.Hour), t0.Add(7*24*time.Hour)
	var ans scheduleAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		b.Fatal(err)
	}
	const held = 1000
	fps := make([]*fingerprint, held)
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range fps {
			fps[i] = newFingerprint(ans.Value[i%len(names)].Items, ws, we)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		clear(fps)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/held, "retained-B/room")
}
