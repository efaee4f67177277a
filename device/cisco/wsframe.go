package cisco

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gorilla/websocket"
)

// Reading a codec's WebSocket frames without a goroutine waiting (issue 22). gorilla's
// reader blocks, so each connection needed a goroutine parked in it (4–8 KB of stack for as
// long as the connection lasts). frameReader reads from a TLS connection whose socket never
// blocks (nbConn, poll_linux.go): it returns errWouldBlock when the socket has nothing more,
// keeping a partial frame for the next call, and the shared poller calls again when the
// socket is readable. Only what a client needs: frames from a server are never masked, no
// extensions are negotiated (no compression), control frames may come between the frames of
// a message.

// errWouldBlock: nothing more to read now. A temporary net.Error, so crypto/tls keeps the
// connection usable (it records only permanent read errors).
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no data yet" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

// frameReader assembles messages from frames read off r (the TLS connection).
type frameReader struct {
	r     io.Reader
	limit int // longest message accepted

	buf   []byte // bytes read and not parsed yet; nil while idle, so a quiet connection keeps none
	msg   []byte // the message being assembled
	inMsg bool   // a text or binary frame without FIN came: continuations follow
}

// control is a control frame's content, handed to the caller (ping: answer with a pong).
type control struct {
	op      int
	payload []byte
}

// next returns the next complete message, or a control frame (ctl set), or errWouldBlock
// when the socket has nothing more, or the error that ended the connection (a close frame
// is a *websocket.CloseError, as gorilla reports it).
func (f *frameReader) next() (data []byte, ctl *control, err error) {
	for {
		if data, ctl, ok, err := f.parse(); ok || err != nil {
			return data, ctl, err
		}
		if err := f.fill(); err != nil {
			return nil, nil, err
		}
	}
}

// fill reads what the socket has into buf.
func (f *frameReader) fill() error {
	if len(f.buf) == cap(f.buf) {
		f.buf = append(f.buf, make([]byte, max(512, len(f.buf)))...)[:len(f.buf)]
	}
	n, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil
	}
	if len(f.buf) == 0 {
		f.buf = nil // idle: keep no buffer
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF // the socket closed without a close frame (as gorilla says)
	}
	return err
}

// parse takes one frame off buf when it is complete (ok), else leaves buf as it is.
func (f *frameReader) parse() (data []byte, ctl *control, ok bool, err error) {
	for {
		data, ctl, ok, more, err := f.parseOne()
		if !more {
			return data, ctl, ok, err
		}
	}
}

// parseOne takes one frame off buf; more: it was a frame of an unfinished message, parse on.
func (f *frameReader) parseOne() (data []byte, ctl *control, ok, more bool, err error) {
	b := f.buf
	if len(b) < 2 {
		return nil, nil, false, false, nil
	}
	fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, int(b[0]&0x0f)
	masked, n := b[1]&0x80 != 0, uint64(b[1]&0x7f)
	h := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return nil, nil, false, false, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return nil, nil, false, false, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	switch {
	case rsv != 0:
		return nil, nil, false, false, errors.New("websocket: unexpected reserved bits (no extension was negotiated)")
	case masked:
		return nil, nil, false, false, errors.New("websocket: masked frame from the codec")
	case op >= 8 && (!fin || n > 125):
		return nil, nil, false, false, errors.New("websocket: invalid control frame")
	case op >= 8 && op > opPong, op > opBinary && op < 8:
		return nil, nil, false, false, fmt.Errorf("websocket: unknown opcode %d", op)
	case op == opContinuation && !f.inMsg, (op == opText || op == opBinary) && f.inMsg:
		return nil, nil, false, false, errors.New("websocket: frame out of order")
	case op < 8 && n > uint64(f.limit-len(f.msg)):
		return nil, nil, false, false, websocket.ErrReadLimit
	}
	if uint64(len(b)-h) < n {
		return nil, nil, false, false, nil
	}
	payload := b[h : h+int(n)]
	rest := b[h+int(n):]
	if op >= 8 {
		ctl = &control{op: op, payload: append([]byte(nil), payload...)}
	} else {
		f.msg = append(f.msg, payload...)
		f.inMsg = !fin
	}
	// Keep what follows; drop the buffer when nothing does (most of the time).
	if len(rest) == 0 {
		f.buf = nil
	} else {
		f.buf = append(f.buf[:0], rest...)
	}
	if ctl != nil {
		if op == opClose {
			return nil, nil, false, false, closeError(ctl.payload)
		}
		return nil, ctl, true, false, nil
	}
	if f.inMsg {
		return nil, nil, false, true, nil // more frames of this message follow: parse on
	}
	data, f.msg = f.msg, nil
	if data == nil {
		data = []byte{}
	}
	return data, nil, true, false, nil
}

// closeError reads a close frame's code and reason.
func closeError(p []byte) error {
	e := &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
	if len(p) >= 2 {
		e.Code, e.Text = int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
	return e
}
