package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"
)

// Reading getSchedule's answer in one pass. The probe reads a cold answer (20 rooms, a week of
// meetings each, a few hundred kB) every few seconds at a thousand rooms, and decoding it with
// encoding/json (a validity pass, then reflection building every string) was about 8 % of the
// agent's steady CPU. scanSchedule validates and reads it in one pass over the bytes, keeps
// only where the fields the probe reads are (spans into the answer; no string is built unless
// it was escaped), and skips the rest (availabilityView, workingHours). It accepts exactly what
// json.Unmarshal into scheduleAnswer accepts and reads the same values: FuzzScanSchedule holds
// it to that. The rare shapes whose meaning encoding/json defines in ways not worth repeating
// here (a known property named twice, or with escapes or non-ASCII letters in its name) are
// decoded by encoding/json itself.

// span is where a decoded string is: in the answer, or (top bit of off set) in the arena of
// strings that had to be decoded.
type span struct{ off, n uint32 }

const inArena = 1 << 31

// schedInfo is one entry of "value": a mailbox's items (sc.items[first:first+n]) or error.
type schedInfo struct {
	id              span
	hasErr          bool
	errMsg, errCode span
	first, n        int
}

// schedItem is one free/busy item.
type schedItem struct {
	private                   bool
	status, subject, location span
	start, end                [2]span // dateTime, timeZone
}

// schedScan is a read answer. It is reused (schedPool): its slices keep their capacity.
type schedScan struct {
	b     []byte
	i     int
	depth int
	arena []byte
	infos []schedInfo
	items []schedItem
	end   bool // when reads an item's end (else its start)
	// fallback is set when encoding/json read the answer (tests).
	fallback bool
}

var schedPool = sync.Pool{New: func() any { return new(schedScan) }}

// errSchedFallback makes scanSchedule hand the answer to encoding/json.
var errSchedFallback = errors.New("decode with encoding/json")

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// str is a span's bytes (valid until the scan is reused).
func (sc *schedScan) str(s span) []byte {
	if s.off&inArena != 0 {
		o := s.off &^ inArena
		return sc.arena[o : o+s.n]
	}
	return sc.b[s.off : s.off+s.n]
}

// scanSchedule reads body (getSchedule's answer) into sc, or says what is wrong with it.
// sc refers to body until it is reused.
func scanSchedule(sc *schedScan, body []byte) error {
	*sc = schedScan{arena: sc.arena[:0], infos: sc.infos[:0], items: sc.items[:0], b: body}
	if len(body) >= inArena {
		return errors.New("getSchedule's answer is not valid JSON: over 2 GB")
	}
	err := sc.answer()
	if err == errSchedFallback {
		*sc = schedScan{arena: sc.arena[:0], infos: sc.infos[:0], items: sc.items[:0], b: body, fallback: true}
		return sc.decode(body)
	}
	if err != nil {
		return fmt.Errorf("getSchedule's answer is not valid JSON: %w", err)
	}
	return nil
}

// decode reads the answer with encoding/json (the rare shapes: see above).
func (sc *schedScan) decode(body []byte) error {
	var ans scheduleAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("getSchedule's answer is not valid JSON: %w", err)
	}
	put := func(s string) span {
		sp := span{off: uint32(len(sc.arena)) | inArena, n: uint32(len(s))}
		sc.arena = append(sc.arena, s...)
		return sp
	}
	for _, info := range ans.Value {
		in := schedInfo{id: put(info.ScheduleID), first: len(sc.items), n: len(info.Items)}
		if info.Error != nil {
			in.hasErr, in.errMsg, in.errCode = true, put(info.Error.Message), put(info.Error.ResponseCode)
		}
		for _, it := range info.Items {
			sc.items = append(sc.items, schedItem{private: it.IsPrivate, status: put(it.Status), subject: put(it.Subject),
				location: put(it.Location), start: [2]span{put(it.Start.DateTime), put(it.Start.TimeZone)},
				end: [2]span{put(it.End.DateTime), put(it.End.TimeZone)}})
		}
		sc.infos = append(sc.infos, in)
	}
	return nil
}

func (sc *schedScan) syntax(what string) error {
	if sc.i >= len(sc.b) {
		return errors.New("unexpected end of JSON input")
	}
	return fmt.Errorf("invalid character %q %s (byte %d)", sc.b[sc.i], what, sc.i)
}

// kind names a JSON value by its first byte, for the messages.
func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

func (sc *schedScan) wrongType(name, want string) error {
	switch c := sc.b[sc.i]; {
	case c == '{', c == '[', c == '"', c == 't', c == 'f', c == '-', '0' <= c && c <= '9':
	default:
		return sc.syntax("looking for the beginning of a value")
	}
	return fmt.Errorf("%s at byte %d is %s, not %s", name, sc.i, kind(sc.b[sc.i]), want)
}

func (sc *schedScan) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// answer reads the whole text: an object (or null) and nothing after it but space.
func (sc *schedScan) answer() error {
	sc.ws()
	if sc.i >= len(sc.b) {
		return sc.syntax("")
	}
	var err error
	switch sc.b[sc.i] {
	case '{':
		err = sc.object(answerMember)
	case 'n':
		err = sc.literal("null")
	default:
		if err = sc.skip(); err == nil {
			sc.i = 0
			sc.ws()
			err = sc.wrongType("the answer", "an object")
		}
	}
	if err != nil {
		return err
	}
	sc.ws()
	if sc.i < len(sc.b) {
		return sc.syntax("after the answer")
	}
	return nil
}

// member reads one property and returns its bit (0: not one the probe reads), so that a
// property named twice is seen (left to encoding/json: it merges them).
type member func(sc *schedScan, key []byte) (uint8, error)

// object reads the object at sc.i, calling fn for each member with sc.i at its value.
func (sc *schedScan) object(fn member) error {
	if sc.depth++; sc.depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	sc.i++ // {
	sc.ws()
	var seen uint8
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		sc.depth--
		return nil
	}
	for {
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return sc.syntax("looking for the beginning of a property name")
		}
		k0 := sc.i
		esc, wide, err := sc.string()
		if err != nil {
			return err
		}
		if esc || wide {
			return errSchedFallback // matched by encoding/json's Unicode folding
		}
		key := sc.b[k0+1 : sc.i-1]
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return sc.syntax("after a property name")
		}
		sc.i++
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.syntax("")
		}
		bit, err := fn(sc, key)
		if err != nil {
			return err
		}
		if seen&bit != 0 {
			return errSchedFallback
		}
		seen |= bit
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.syntax("")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
			sc.ws()
		case '}':
			sc.i++
			sc.depth--
			return nil
		default:
			return sc.syntax("after an object's property")
		}
	}
}

// array reads the list at sc.i, calling fn for each element with sc.i at it.
func (sc *schedScan) array(fn func(sc *schedScan) error) error {
	if sc.depth++; sc.depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	sc.i++ // [
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		sc.depth--
		return nil
	}
	for {
		if sc.i >= len(sc.b) {
			return sc.syntax("")
		}
		if err := fn(sc); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.syntax("")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
			sc.ws()
		case ']':
			sc.i++
			sc.depth--
			return nil
		default:
			return sc.syntax("after a list element")
		}
	}
}

// is compares a property name the way encoding/json matches a field: regardless of ASCII case
// (names with other letters went to encoding/json).
func is(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range key {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := name[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func answerMember(sc *schedScan, key []byte) (uint8, error) {
	if !is(key, "value") {
		return 0, sc.skip()
	}
	switch sc.b[sc.i] {
	case 'n':
		return 1, sc.literal("null")
	case '[':
		return 1, sc.array(func(sc *schedScan) error {
			sc.infos = append(sc.infos, schedInfo{first: len(sc.items)})
			switch sc.b[sc.i] {
			case 'n':
				return sc.literal("null")
			case '{':
				return sc.object(infoMember)
			}
			return sc.wrongType(`an entry of "value"`, "a schedule object")
		})
	}
	return 1, sc.wrongType(`"value"`, "a list")
}

func infoMember(sc *schedScan, key []byte) (uint8, error) {
	in := &sc.infos[len(sc.infos)-1]
	switch {
	case is(key, "scheduleId"):
		return 1, sc.text(&in.id, `"scheduleId"`)
	case is(key, "scheduleItems"):
		switch sc.b[sc.i] {
		case 'n':
			return 2, sc.literal("null")
		case '[':
			in.first = len(sc.items)
			err := sc.array(func(sc *schedScan) error {
				sc.items = append(sc.items, schedItem{})
				switch sc.b[sc.i] {
				case 'n':
					return sc.literal("null")
				case '{':
					return sc.object(itemMember)
				}
				return sc.wrongType(`an entry of "scheduleItems"`, "an item object")
			})
			// in is still the entry: sc.infos does not grow while its items are read.
			in.n = len(sc.items) - in.first
			return 2, err
		}
		return 2, sc.wrongType(`"scheduleItems"`, "a list")
	case is(key, "error"):
		switch sc.b[sc.i] {
		case 'n':
			return 4, sc.literal("null")
		case '{':
			in.hasErr = true
			return 4, sc.object(errorMember)
		}
		return 4, sc.wrongType(`"error"`, "an object")
	}
	return 0, sc.skip()
}

func errorMember(sc *schedScan, key []byte) (uint8, error) {
	in := &sc.infos[len(sc.infos)-1]
	switch {
	case is(key, "message"):
		return 1, sc.text(&in.errMsg, `"message"`)
	case is(key, "responseCode"):
		return 2, sc.text(&in.errCode, `"responseCode"`)
	}
	return 0, sc.skip()
}

func itemMember(sc *schedScan, key []byte) (uint8, error) {
	it := &sc.items[len(sc.items)-1]
	switch {
	case is(key, "isPrivate"):
		switch sc.b[sc.i] {
		case 'n':
			return 1, sc.literal("null")
		case 't':
			it.private = true
			return 1, sc.literal("true")
		case 'f':
			return 1, sc.literal("false")
		}
		return 1, sc.wrongType(`"isPrivate"`, "a boolean")
	case is(key, "status"):
		return 2, sc.text(&it.status, `"status"`)
	case is(key, "subject"):
		return 4, sc.text(&it.subject, `"subject"`)
	case is(key, "location"):
		return 8, sc.text(&it.location, `"location"`)
	case is(key, "start"):
		sc.end = false
		return 16, sc.when(`"start"`)
	case is(key, "end"):
		sc.end = true
		return 32, sc.when(`"end"`)
	}
	return 0, sc.skip()
}

// when reads a dateTimeTimeZone (dateTime, timeZone) into the item's start, or its end
// when sc.end.
func (sc *schedScan) when(name string) error {
	switch sc.b[sc.i] {
	case 'n':
		return sc.literal("null")
	case '{':
		return sc.object(whenMember)
	}
	return sc.wrongType(name, "an object")
}

func whenMember(sc *schedScan, key []byte) (uint8, error) {
	dt := &sc.items[len(sc.items)-1].start
	if sc.end {
		dt = &sc.items[len(sc.items)-1].end
	}
	switch {
	case is(key, "dateTime"):
		return 1, sc.text(&dt[0], `"dateTime"`)
	case is(key, "timeZone"):
		return 2, sc.text(&dt[1], `"timeZone"`)
	}
	return 0, sc.skip()
}

// text reads a string property (null leaves it empty) into dst.
func (sc *schedScan) text(dst *span, name string) error {
	switch sc.b[sc.i] {
	case 'n':
		return sc.literal("null")
	case '"':
	default:
		return sc.wrongType(name, "a string")
	}
	start := sc.i
	esc, wide, err := sc.string()
	if err != nil {
		return err
	}
	if !esc && (!wide || utf8.Valid(sc.b[start+1:sc.i-1])) {
		*dst = span{off: uint32(start + 1), n: uint32(sc.i - start - 2)}
		return nil
	}
	// Escapes, or bytes that are not UTF-8 (encoding/json puts U+FFFD for them): decoded as
	// encoding/json decodes them.
	var s string
	if err := json.Unmarshal(sc.b[start:sc.i], &s); err != nil {
		return err
	}
	*dst = span{off: uint32(len(sc.arena)) | inArena, n: uint32(len(s))}
	sc.arena = append(sc.arena, s...)
	return nil
}

// string passes the string at sc.i, reporting whether it has escapes and bytes beyond ASCII.
func (sc *schedScan) string() (esc, wide bool, err error) {
	b := sc.b
	i := sc.i + 1
	for i < len(b) {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			sc.i = i + 1
			return esc, wide, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				sc.i = i
				return esc, wide, sc.syntax("")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(b) || !isHex(b[i+k]) {
						sc.i = min(i+k, len(b))
						return esc, wide, sc.syntax("in a \\u escape")
					}
				}
				i += 5
			default:
				sc.i = i
				return esc, wide, sc.syntax("in a string escape")
			}
		case c < 0x20:
			sc.i = i
			return esc, wide, sc.syntax("in a string")
		default:
			if c >= utf8.RuneSelf {
				wide = true
			}
			i++
		}
	}
	sc.i = i
	return esc, wide, sc.syntax("")
}

// plain are the bytes a string carries as they are: not a quote, backslash, control
// character or a byte beyond ASCII.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (sc *schedScan) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if sc.i >= len(sc.b) || sc.b[sc.i] != word[k] {
			return sc.syntax("in a literal")
		}
		sc.i++
	}
	return nil
}

// skip passes the value at sc.i, checking it.
func (sc *schedScan) skip() error {
	switch c := sc.b[sc.i]; {
	case c == '{':
		return sc.object(func(sc *schedScan, _ []byte) (uint8, error) { return 0, sc.skip() })
	case c == '[':
		return sc.array((*schedScan).skip)
	case c == '"':
		_, _, err := sc.string()
		return err
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return sc.number()
	}
	return sc.syntax("looking for the beginning of a value")
}

// number passes a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (sc *schedScan) number() error {
	b := sc.b
	if b[sc.i] == '-' {
		sc.i++
	}
	switch {
	case sc.i < len(b) && b[sc.i] == '0':
		sc.i++
	case sc.i < len(b) && '1' <= b[sc.i] && b[sc.i] <= '9':
		sc.digits()
	default:
		return sc.syntax("in a number")
	}
	if sc.i < len(b) && b[sc.i] == '.' {
		sc.i++
		if sc.i >= len(b) || b[sc.i] < '0' || b[sc.i] > '9' {
			return sc.syntax("after a decimal point")
		}
		sc.digits()
	}
	if sc.i < len(b) && (b[sc.i] == 'e' || b[sc.i] == 'E') {
		sc.i++
		if sc.i < len(b) && (b[sc.i] == '+' || b[sc.i] == '-') {
			sc.i++
		}
		if sc.i >= len(b) || b[sc.i] < '0' || b[sc.i] > '9' {
			return sc.syntax("in an exponent")
		}
		sc.digits()
	}
	return nil
}

func (sc *schedScan) digits() {
	for sc.i < len(sc.b) && '0' <= sc.b[sc.i] && sc.b[sc.i] <= '9' {
		sc.i++
	}
}
