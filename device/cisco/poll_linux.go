//go:build linux

package cisco

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// One epoll instance and one goroutine watch every polled connection's socket (issue 22): a
// connected codec costs no goroutine while it is quiet. A readable socket gets a short-lived
// goroutine (Conn.drain) that reads until the socket has nothing more.

// nbConn is the TCP connection under a codec's TLS: blocking through the handshake, then,
// once polled, a Read that never waits (errWouldBlock).
type nbConn struct {
	*net.TCPConn
	rc          syscall.RawConn
	nonblocking atomic.Bool
}

func wrapConn(conn net.Conn) *nbConn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &nbConn{TCPConn: tc, rc: rc}
}

func (c *nbConn) Read(p []byte) (int, error) {
	if !c.nonblocking.Load() {
		return c.TCPConn.Read(p)
	}
	var n int
	var err error
	if rerr := c.rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			if err != syscall.EINTR {
				return true // never wait here: the poller does
			}
		}
	}); rerr != nil {
		return 0, rerr
	}
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, os.NewSyscallError("read", err)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// usePoller: false makes new connections read with a goroutine each (tests of that path).
var usePoller = func() *atomic.Bool { var b atomic.Bool; b.Store(true); return &b }()

type poller struct {
	epfd int
	rc   syscall.RawConn // the epoll instance as Go's runtime poller sees it
	mu   sync.Mutex
	regs map[int32]*Conn
}

// sharedPoller is the process's poller, started at the first polled connection; nil when
// epoll is unavailable (connections then read with a goroutine each).
var sharedPoller = sync.OnceValue(func() *poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// The epoll instance is itself readable when a socket is: Go's runtime poller waits for
	// that, so no thread sits blocked in epoll_wait (waking one costs more than the read).
	if syscall.SetNonblock(fd, true) != nil {
		syscall.Close(fd)
		return nil
	}
	rc, err := os.NewFile(uintptr(fd), "otj-edge-cisco-epoll").SyscallConn()
	if err != nil {
		return nil
	}
	p := &poller{epfd: fd, rc: rc, regs: map[int32]*Conn{}}
	go p.run()
	return p
})

// Edge-triggered: a socket is announced when data arrives, once; the drain reads until the
// socket has nothing more, and reads on when an announcement came while it ran (Conn.again).
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET

// epollET is EPOLLET, bit 31 on every Linux architecture; the syscall package spells it as a
// negative int on some (amd64) and a positive one on others (arm64), so neither form builds
// for both.
const epollET = 1 << 31

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		if err := p.rc.Read(func(fd uintptr) bool {
			var err error
			n, err = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || (err != nil && err != syscall.EINTR)
		}); err != nil {
			return // the runtime closed it: cannot happen while the process runs
		}
		for _, ev := range events[:max(n, 0)] {
			p.mu.Lock()
			c := p.regs[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				c.readable()
			}
		}
	}
}

// start sets up reading: polled when it can be, else a reader goroutine.
func (c *Conn) start(nb *nbConn) {
	p := sharedPoller()
	tc, ok := c.ws.NetConn().(*tls.Conn)
	if p == nil || nb == nil || !ok || !usePoller.Load() {
		go c.readLoop()
		return
	}
	fd := -1
	if err := nb.rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		go c.readLoop()
		return
	}
	c.fr, c.nb, c.fd, c.poller = &frameReader{r: tc, limit: readLimit}, nb, fd, p
	nb.nonblocking.Store(true)
	p.mu.Lock()
	p.regs[int32(fd)] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.regs, int32(fd))
		p.mu.Unlock()
		c.fr, c.nb = nil, nil
		nb.nonblocking.Store(false)
		go c.readLoop()
		return
	}
	// Anything TLS already holds (read with the upgrade's answer) is read now: the socket
	// would not announce it. (gorilla's own buffer holds nothing past the 101 answer: a codec
	// sends nothing before the first request.)
	c.readable()
}

// unpoll stops watching the socket (under c.mu, before it closes).
func (c *Conn) unpoll() {
	if c.fr == nil {
		return
	}
	p := c.poller
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	if p.regs[int32(c.fd)] == c {
		delete(p.regs, int32(c.fd))
	}
	p.mu.Unlock()
}
