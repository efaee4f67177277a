package ews

import (
	"errors"
	"fmt"
	"io"
)

// An EWS answer is decoded as it arrives, not read whole first: the XML decoder reads the
// body through answerReader, which drops the control characters XML forbids (what sanitize
// does to a whole answer) and refuses an answer beyond maxAnswer. Reading a GetItem answer
// into one buffer before decoding it was a tenth of what the cold sync allocated, and the
// buffer of every answer in flight was held while it was decoded.

// maxAnswer is the largest answer read (64 MiB: a GetItem of 25 items with HTML bodies is
// well under a megabyte; a bigger one is not an answer this source asked for).
const maxAnswer = 64 << 20

// answerTooLargeError is an answer over the limit.
type answerTooLargeError struct{ limit int64 }

func (e *answerTooLargeError) Error() string {
	size := fmt.Sprintf("%d bytes", e.limit)
	if e.limit >= 1<<20 {
		size = fmt.Sprintf("%d MiB", e.limit>>20)
	}
	return "the answer is larger than " + size + ", far more than an answer to this request holds " +
		"(is a proxy in front of Exchange answering instead of it?)"
}

// answerReader reads an answer for the XML decoder: without the control characters XML
// forbids, and no further than limit bytes of the body.
type answerReader struct {
	r     io.Reader
	max   int64 // the limit
	limit int64 // bytes of the body still allowed
	err   error // the body's own read error (network), for the caller to tell it from bad XML
}

func newAnswerReader(r io.Reader, limit int64) *answerReader {
	return &answerReader{r: r, max: limit, limit: limit}
}

func (a *answerReader) Read(p []byte) (int, error) {
	for {
		if a.limit <= 0 {
			// One byte more says whether the body ends here or goes on.
			var one [1]byte
			if n, _ := io.ReadFull(a.r, one[:]); n > 0 {
				return 0, &answerTooLargeError{limit: a.max}
			}
			return 0, io.EOF
		}
		if int64(len(p)) > a.limit {
			p = p[:a.limit]
		}
		n, err := a.r.Read(p)
		a.limit -= int64(n)
		n = dropControls(p[:n])
		if err != nil && !errors.Is(err, io.EOF) {
			a.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// dropControls removes the control characters XML forbids from b in place (Exchange has been
// seen to send them inside item text, and one would fail the whole answer) and returns the
// length left.
func dropControls(b []byte) int {
	j := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			continue
		}
		b[j] = c
		j++
	}
	return j
}
