//go:build !linux

package cisco

import "net"

// Without epoll, every connection reads with a goroutine of its own (readLoop).

type nbConn struct{ net.Conn }

type poller struct{}

func wrapConn(net.Conn) *nbConn { return nil }

func (c *Conn) start(*nbConn) { go c.readLoop() }

func (c *Conn) unpoll() {}
