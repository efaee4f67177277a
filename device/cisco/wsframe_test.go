package cisco

import (
	"errors"
	"io"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trickle hands out its bytes a few at a time, with "nothing yet" in between, as a socket
// does when a codec's message arrives in pieces.
type trickle struct {
	data []byte
	step int
	dry  bool
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.dry = !t.dry; t.dry {
		return 0, errWouldBlock
	}
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.data[:min(t.step, len(t.data))])
	t.data = t.data[n:]
	return n, nil
}

func frame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		return append([]byte{b0, byte(n)}, payload...)
	case n < 1<<16:
		return append([]byte{b0, 126, byte(n >> 8), byte(n)}, payload...)
	default:
		return append([]byte{b0, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
	}
}

// A message split over frames with a ping in between, a long one, arriving a few bytes at a
// time: each comes out whole, the ping in its place; a close frame ends with the codec's code.
func TestFrameReaderReassemblesMessagesArrivingInPieces(t *testing.T) {
	big := make([]byte, 70000)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	var stream []byte
	stream = append(stream, frame(false, opText, []byte(`{"id":`))...)
	stream = append(stream, frame(true, opPing, []byte("hi"))...)
	stream = append(stream, frame(true, opContinuation, []byte(`7}`))...)
	stream = append(stream, frame(true, opText, big)...)
	stream = append(stream, frame(true, opClose, append([]byte{0x03, 0xe9}, "going away"...))...)
	for _, step := range []int{1, 7, 4096, len(stream)} {
		fr := &frameReader{r: &trickle{data: stream, step: step}, limit: readLimit}
		var got []string
		var pings int
		var err error
		for {
			var data []byte
			var ctl *control
			data, ctl, err = fr.next()
			if errors.Is(err, errWouldBlock) {
				continue // the poller would wait for the socket here
			}
			if err != nil {
				break
			}
			if ctl != nil {
				assert.Equal(t, opPing, ctl.op)
				assert.Equal(t, "hi", string(ctl.payload))
				assert.Empty(t, got, "the ping comes before the message it interrupted")
				pings++
				continue
			}
			got = append(got, string(data))
		}
		require.Len(t, got, 2, "step %d", step)
		assert.Equal(t, `{"id":7}`, got[0])
		assert.Equal(t, string(big), got[1])
		assert.Equal(t, 1, pings)
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, websocket.CloseGoingAway, ce.Code)
		assert.Nil(t, fr.buf, "nothing kept once read")
	}
}

// What a codec must not send ends the connection: masked frames, reserved bits, a message
// over the limit, a socket closed mid-frame.
func TestFrameReaderRefusesBrokenFrames(t *testing.T) {
	for name, tc := range map[string]struct {
		stream []byte
		limit  int
		want   error
	}{
		"masked":   {[]byte{0x81, 0x81, 1, 2, 3, 4, 'x'}, readLimit, nil},
		"reserved": {[]byte{0xc1, 0x01, 'x'}, readLimit, nil},
		"limit":    {frame(true, opText, make([]byte, 200)), 100, websocket.ErrReadLimit},
		"cut":      {frame(true, opText, make([]byte, 200))[:50], readLimit, io.ErrUnexpectedEOF},
	} {
		fr := &frameReader{r: &trickle{data: tc.stream, step: 1 << 20}, limit: tc.limit}
		var err error
		for {
			if _, _, err = fr.next(); !errors.Is(err, errWouldBlock) {
				break
			}
		}
		require.Error(t, err, name)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, name)
		}
	}
}
