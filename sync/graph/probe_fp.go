package graph

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// A room's fingerprint: its free/busy items over a window, compact (times and a hash of the
// rest). Items are kept, not one hash of them all, because two probes cover different windows
// (a hot probe's hours, a cold probe's days, both sliding with the clock) and only the part
// both covered is compared: no single hash can be cut to a period not known when it was made.
// What can be cut is what is kept: an item is stored cut to its own window, as seconds after
// the window's start (16 bytes, no pointers for the GC to scan; 24 before, plus the slack of
// appending), which compares exactly as the whole item did (differs cuts to a part of the
// window anyway). Fingerprints are built straight from the scanned answer (probeRead): no
// item strings, no per-item maps.

// fingerprint is a room's items over [ws, we).
type fingerprint struct {
	ws, we  int64    // the window, unix seconds
	items   []fpItem // sorted
	details bool     // an item carried a subject: the room shares LimitedDetails (or more)
}

// fpItem is an item cut to its fingerprint's window, in seconds after ws (a window is at
// most upcoming_days long: far below 136 years).
type fpItem struct {
	start, end uint32
	h          uint64
}

// fpWide is an item as read (unix seconds), before its fingerprint is made; room is its
// index in the job.
type fpWide struct {
	start, end int64
	h          uint64
	room       int
}

// differs reports whether two probes disagree over the period both covered: each item is cut
// to that period, and the items that fall outside it are left out. scratch is reused (nil:
// allocated).
func (fp *fingerprint) differs(next *fingerprint) bool {
	var scratch [2][]fpWide
	return fp.differsWith(next, &scratch)
}

func (fp *fingerprint) differsWith(next *fingerprint, scratch *[2][]fpWide) bool {
	from, to := max(fp.ws, next.ws), min(fp.we, next.we)
	if from >= to {
		return false // nothing in common to compare
	}
	scratch[0], scratch[1] = fp.within(from, to, scratch[0][:0]), next.within(from, to, scratch[1][:0])
	return !slices.Equal(scratch[0], scratch[1])
}

func (fp *fingerprint) within(from, to int64, out []fpWide) []fpWide {
	for _, it := range fp.items {
		s, e := fp.ws+int64(it.start), fp.ws+int64(it.end)
		if e <= from || s >= to {
			continue
		}
		out = append(out, fpWide{start: max(s, from), end: min(e, to), h: it.h})
	}
	sortWide(out)
	return out
}

func sortWide(v []fpWide) {
	slices.SortFunc(v, func(a, b fpWide) int {
		switch {
		case a.room != b.room:
			return a.room - b.room
		case a.start != b.start:
			return cmpInt(a.start, b.start)
		case a.end != b.end:
			return cmpInt(a.end, b.end)
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// probeRead gathers a job's answers (a request per segment) room by room.
type probeRead struct {
	ws    time.Time
	rooms []string
	ends  []time.Time // each room's window end
	got   []roomRead
	wide  []fpWide
	key   []byte
}

// roomRead is what the answers said of one room.
type roomRead struct {
	present bool   // an entry without error named it
	bad     bool   // an entry named an error for it
	msg     string // the last such error
	details bool
	fp      *fingerprint
}

var readPool = sync.Pool{New: func() any { return new(probeRead) }}

// newProbeRead starts reading a job's answers; done gives it back.
func newProbeRead(j probeJob) *probeRead {
	rd := readPool.Get().(*probeRead)
	rd.ws, rd.rooms = j.ws, j.rooms
	rd.ends, rd.got, rd.wide = rd.ends[:0], rd.got[:0], rd.wide[:0]
	for _, m := range j.rooms {
		rd.ends = append(rd.ends, earlierOf(j.we, j.roomEnd[m]))
		rd.got = append(rd.got, roomRead{})
	}
	return rd
}

func (rd *probeRead) done() {
	rd.rooms = nil
	clear(rd.got) // no fingerprint stays reachable from the pool
	readPool.Put(rd)
}

// room is the index of the job's room an answer's scheduleId names (as the lower-cased,
// trimmed mailbox), or -1.
func (rd *probeRead) room(id []byte) int {
	var m string
	if ascii(id) {
		rd.key = rd.key[:0]
		for _, c := range trimSpace(id) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			rd.key = append(rd.key, c)
		}
		for i, r := range rd.rooms {
			if string(rd.key) == r {
				return i
			}
		}
		return -1
	}
	m = strings.ToLower(strings.TrimSpace(string(id)))
	return slices.Index(rd.rooms, m)
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// trimSpace is strings.TrimSpace for ASCII.
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// add takes one answer: each room's items within its window, or its error.
func (rd *probeRead) add(sc *schedScan) {
	for _, in := range sc.infos {
		k := rd.room(sc.str(in.id))
		if k < 0 {
			continue // not a room of the job: none of its business
		}
		g := &rd.got[k]
		if in.hasErr {
			g.bad, g.msg = true, strings.TrimSpace(string(sc.str(in.errCode))+": "+string(sc.str(in.errMsg)))
			continue
		}
		g.present = true
		for _, it := range sc.items[in.first : in.first+in.n] {
			st, ok1 := parseWhen(sc.str(it.start[0]), sc.str(it.start[1]))
			en, ok2 := parseWhen(sc.str(it.end[0]), sc.str(it.end[1]))
			if !ok1 || !ok2 || !en.After(rd.ws) || !st.Before(rd.ends[k]) {
				continue
			}
			rd.wide = append(rd.wide, fpWide{start: st.Unix(), end: en.Unix(), room: k,
				h: itemHash(sc.str(it.status), sc.str(it.subject), sc.str(it.location), it.private)})
			if len(sc.str(it.subject)) > 0 {
				g.details = true
			}
		}
	}
}

// finish makes the fingerprint of every room the answers named without error.
func (rd *probeRead) finish() {
	sortWide(rd.wide)
	// An item straddling two segments came twice: once is enough (the same item, uncut).
	rd.wide = slices.Compact(rd.wide)
	w := rd.wide
	for k := range rd.got {
		n := 0
		for n < len(w) && w[n].room == k {
			n++
		}
		g := &rd.got[k]
		if g.present && !g.bad {
			g.fp = newFP(w[:n], rd.ws, rd.ends[k], g.details)
		}
		w = w[n:]
	}
}

// newFP makes a fingerprint of sorted, distinct items over [ws, we).
func newFP(items []fpWide, ws, we time.Time, details bool) *fingerprint {
	fp := &fingerprint{ws: ws.Unix(), we: we.Unix(), details: details}
	if len(items) > 0 {
		fp.items = make([]fpItem, len(items))
	}
	for i, it := range items {
		fp.items[i] = fpItem{start: uint32(max(it.start, fp.ws) - fp.ws), end: uint32(min(it.end, fp.we) - fp.ws), h: it.h}
	}
	sortItems(fp.items)
	return fp
}

func sortItems(items []fpItem) {
	slices.SortFunc(items, func(a, b fpItem) int {
		switch {
		case a.start != b.start:
			return int(a.start) - int(b.start)
		case a.end != b.end:
			return int(a.end) - int(b.end)
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
}

// extended is fp, with prev's items past fp's end kept when prev reached further: a hot
// probe's few hours do not erase what the room's last cold probe recorded of the days beyond
// them, so the next cold probe compares them with a baseline. An item of prev that fp cut at
// its end (same start, same hash) is joined back into one, as a cold probe would see it.
func (fp *fingerprint) extended(prev *fingerprint) *fingerprint {
	if prev == nil || prev.we <= fp.we {
		return fp
	}
	out := &fingerprint{ws: fp.ws, we: prev.we, details: fp.details}
	out.items = make([]fpItem, len(fp.items), len(fp.items)+len(prev.items))
	copy(out.items, fp.items)
	cut := uint32(fp.we - fp.ws)
	for _, it := range prev.items {
		s, e := prev.ws+int64(it.start), prev.ws+int64(it.end)
		if e <= fp.we {
			continue
		}
		if s < fp.we && joinAt(out.items[:len(fp.items)], uint32(max(s, fp.ws)-fp.ws), cut, uint32(e-fp.ws), it.h) {
			continue
		}
		s = max(s, fp.we)
		out.items = append(out.items, fpItem{start: uint32(s - fp.ws), end: uint32(e - fp.ws), h: it.h})
	}
	sortItems(out.items)
	return out
}

// joinAt extends to end the item of items that starts at start, ends at cut and has hash h.
func joinAt(items []fpItem, start, cut, end uint32, h uint64) bool {
	for i := range items {
		if items[i].start == start && items[i].end == cut && items[i].h == h {
			items[i].end = end
			return true
		}
	}
	return false
}

// newFingerprint is the fingerprint of decoded items (tests).
func newFingerprint(items []scheduleItem, ws, we time.Time) *fingerprint {
	rd := &probeRead{ws: ws, rooms: []string{""}, ends: []time.Time{we}, got: make([]roomRead, 1)}
	rd.got[0].present = true
	for _, it := range items {
		st, ok1 := it.Start.time()
		en, ok2 := it.End.time()
		if !ok1 || !ok2 || !en.After(ws) || !st.Before(we) {
			continue
		}
		rd.wide = append(rd.wide, fpWide{start: st.Unix(), end: en.Unix(),
			h: itemHash([]byte(it.Status), []byte(it.Subject), []byte(it.Location), it.IsPrivate)})
		if it.Subject != "" {
			rd.got[0].details = true
		}
	}
	rd.finish()
	return rd.got[0].fp
}

// itemHash is FNV-1a of lower(status) NUL subject NUL location NUL private ("0" or "1").
func itemHash(status, subject, location []byte, private bool) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	if ascii(status) {
		for _, c := range status {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h = (h ^ uint64(c)) * prime
		}
	} else {
		for _, c := range []byte(strings.ToLower(string(status))) {
			h = (h ^ uint64(c)) * prime
		}
	}
	for _, part := range [2][]byte{subject, location} {
		h = (h ^ 0) * prime
		for _, c := range part {
			h = (h ^ uint64(c)) * prime
		}
	}
	p := byte('0')
	if private {
		p = '1'
	}
	h = (h ^ 0) * prime
	return (h ^ uint64(p)) * prime
}

// parseWhen reads a dateTimeTimeZone as scheduleTime.time does; the usual form (UTC,
// "2006-01-02T15:04:05" with up to 9 decimals) without building strings.
func parseWhen(dt, tz []byte) (time.Time, bool) {
	if len(tz) == 0 || string(tz) == "UTC" {
		if t, ok := parseUTC(dt); ok {
			return t, true
		}
	}
	return scheduleTime{DateTime: string(dt), TimeZone: string(tz)}.time()
}

// parseUTC reads "2006-01-02T15:04:05[.f{1,9}][Z]", ranges checked as time.Parse checks them;
// anything else is left to time.Parse (false).
func parseUTC(b []byte) (time.Time, bool) {
	if n := len(b); n > 0 && b[n-1] == 'Z' {
		b = b[:n-1]
	}
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	nsec := 0
	if len(b) > 19 {
		frac := b[20:]
		if b[19] != '.' || len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		v := num(20, len(frac))
		if v < 0 {
			return time.Time{}, false
		}
		for range 9 - len(frac) {
			v *= 10
		}
		nsec = v
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}
