package graph

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answer is what the scan read, as encoding/json would have decoded it.
func (sc *schedScan) answer4test() scheduleAnswer {
	var ans scheduleAnswer
	s := func(sp span) string { return string(sc.str(sp)) }
	for _, in := range sc.infos {
		info := scheduleInfo{ScheduleID: s(in.id)}
		if in.hasErr {
			info.Error = &struct {
				Message      string `json:"message"`
				ResponseCode string `json:"responseCode"`
			}{s(in.errMsg), s(in.errCode)}
		}
		for _, it := range sc.items[in.first : in.first+in.n] {
			info.Items = append(info.Items, scheduleItem{IsPrivate: it.private, Status: s(it.status), Subject: s(it.subject),
				Location: s(it.location), Start: scheduleTime{s(it.start[0]), s(it.start[1])}, End: scheduleTime{s(it.end[0]), s(it.end[1])}})
		}
		ans.Value = append(ans.Value, info)
	}
	return ans
}

// normal makes empty lists nil: the probe reads no difference between them.
func normal(a scheduleAnswer) scheduleAnswer {
	if len(a.Value) == 0 {
		a.Value = nil
	}
	for i := range a.Value {
		if len(a.Value[i].Items) == 0 {
			a.Value[i].Items = nil
		}
	}
	return a
}

var scheduleSeeds = []string{
	`{"value":[{"scheduleId":"Room-1@x","scheduleItems":[{"isPrivate":true,"status":"Busy","subject":"a \"b\" \u00e9","location":"L","start":{"dateTime":"2026-11-23T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-11-23T10:00:00","timeZone":"UTC"}}]}]}`,
	`{"value":[{"scheduleId":"r@x","error":{"message":"The user or resource could not be found.","responseCode":"ErrorMailRecipientNotFound"},"scheduleItems":null}]}`,
	`{"value":[{"scheduleId":"r@x","error":{}}]}`,
	`{"value":[null,{"scheduleItems":[null,{}]}],"other":[1,-2.5e+3,true,false,null,{"a":{}}]}`,
	`null`, ` {} `, `{"value":null}`, `[]`, `"x"`, `1`, `{"value":{}}`, `{"value":[1]}`, `{"value":[{"scheduleItems":{}}]}`,
	`{"VALUE":[{"SCHEDULEID":"a","ScheduleItems":[{"IsPrivate":false,"STATUS":"free"}]}]}`,
	`{"value":[{"scheduleId":"a","scheduleId":"b"}]}`,
	`{"value":[{"scheduleItems":[{"start":{"dateTime":"x"},"start":{"timeZone":"y"}}]}]}`,
	`{"value":[{"error":{"message":"a"},"error":{"responseCode":"b"}}]}`,
	`{"value":[{"error":{"message":"a"},"error":null}]}`,
	`{"value":[{"scheduleItems":[{"subject":"x"}],"scheduleItems":[{}]}]}`,
	`{"value":[{"scheduleId":"a"}],"value":[{"scheduleId":"b"},{}]}`,
	`{"valu\u0065":[{"scheduleId":"a"}]}`, `{"value":[{"ſcheduleId":"a"}]}`, `{"value":[{"scheduleId":"a\xff\xfeb"}]}`,
	`{"value":[{"scheduleItems":[{"isPrivate":"true"}]}]}`, `{"value":[{"scheduleItems":[{"status":1}]}]}`,
	`{"value":[{"scheduleItems":[{"start":"2026"}]}]}`, `{"value":[{"error":"e"}]}`,
	`{"value":[{"scheduleId":"a"}]} x`, `{"value":[{"scheduleId":"a"},]}`, `{"value":[{"scheduleId":"a",}]}`, `{"a":01}`, `{"a":-}`,
	`{"a":1.}`, `{"a":1e}`, `{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":tru}`, `{"value":[{"scheduleId":"\ud800"}]}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), `{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

// FuzzScanSchedule: the scan reads from any answer what encoding/json decodes into
// scheduleAnswer, and refuses what it refuses.
func FuzzScanSchedule(f *testing.F) {
	body, _ := scheduleAnswerBody(3, 4)
	f.Add(body)
	for _, s := range scheduleSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want scheduleAnswer
		wantErr := json.Unmarshal(body, &want)
		sc := new(schedScan)
		err := scanSchedule(sc, body)
		if wantErr != nil {
			require.Error(t, err, "encoding/json refused it: %v", wantErr)
			require.Contains(t, err.Error(), "not valid JSON", "classified as garbage, as before")
			return
		}
		require.NoError(t, err)
		require.Equal(t, normal(want), normal(sc.answer4test()))
		// A reused scan reads the same.
		require.NoError(t, scanSchedule(sc, body))
		require.Equal(t, normal(want), normal(sc.answer4test()))
	})
}

// TestScanScheduleSaysWhatIsWrong: a refused answer names the fault and where.
func TestScanScheduleSaysWhatIsWrong(t *testing.T) {
	sc := new(schedScan)
	for body, want := range map[string]string{
		`{"value":[{"scheduleItems":{}}]}`:                `"scheduleItems" at byte 27 is an object, not a list`,
		`{"value":[{"scheduleItems":[{"isPrivate":1}]}]}`: `"isPrivate" at byte 41 is a number, not a boolean`,
		`{"value":[{"scheduleId":"a"},]}`:                 `invalid character ']' looking for the beginning of a value (byte 29)`,
		`{"value":[`:                                      `unexpected end of JSON input`,
		`[]`:                                              `the answer at byte 0 is a list, not an object`,
	} {
		err := scanSchedule(sc, []byte(body))
		require.Error(t, err, body)
		assert.Equal(t, "getSchedule's answer is not valid JSON: "+want, err.Error(), body)
	}
	require.NoError(t, scanSchedule(sc, []byte(`{"value":[{"scheduleId":"a","scheduleId":"b"}]}`)))
	assert.True(t, sc.fallback, "a property named twice is left to encoding/json")
	assert.Equal(t, "b", string(sc.str(sc.infos[0].id)))
}

// TestScheduleBodyAsMarshalled: the written getSchedule body is the bytes encoding/json made
// of it, whatever the mailbox names hold.
func TestScheduleBodyAsMarshalled(t *testing.T) {
	type dtz struct {
		DateTime string `json:"dateTime"`
		TimeZone string `json:"timeZone"`
	}
	start := time.Date(2026, 11, 23, 8, 0, 0, 999, time.FixedZone("CET", 3600))
	end := start.AddDate(0, 0, 61)
	for _, schedules := range [][]string{nil, {}, {"room-1@contoso.example", "Room-2@Contoso.Example"},
		{`a"b\c`, "x<y>&z", "tab\there", "é@ex.example", "\u2028", "bad\xff", "del\x7f"}} {
		want, err := json.Marshal(struct {
			Schedules []string `json:"schedules"`
			StartTime dtz      `json:"startTime"`
			EndTime   dtz      `json:"endTime"`
			Interval  int      `json:"availabilityViewInterval"`
		}{schedules, dtz{start.UTC().Format("2006-01-02T15:04:05"), "UTC"}, dtz{end.UTC().Format("2006-01-02T15:04:05"), "UTC"}, 1440})
		require.NoError(t, err)
		got, err := scheduleBody(schedules, start, end)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}
