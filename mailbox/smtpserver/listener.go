package smtpserver

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener wraps the TCP listener: it refuses connections beyond max with
// a 421, and keeps the set of open connections so that Shutdown can end
// the idle ones and Close all of them.
type listener struct {
	net.Listener
	max      int
	logger   *slog.Logger
	draining atomic.Bool // Shutdown has started

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newListener(l net.Listener, max int, logger *slog.Logger) *listener {
	return &listener{Listener: l, max: max, logger: logger, conns: make(map[*trackedConn]struct{})}
}

// Accept returns the next connection under the limit; connections above it
// get "421 4.4.5" and are closed here, without reaching go-smtp.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.track(c); tc != nil {
			return tc, nil
		}
		l.logger.Warn("smtp connection refused: too many connections", "remote", c.RemoteAddr().String(), "max", l.max)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte("421 4.4.5 Too many connections, try again later\r\n"))
		c.Close()
	}
}

// track registers c, or returns nil when max connections are open.
func (l *listener) track(c net.Conn) *trackedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		return nil
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc
}

// drain marks the listener as shutting down and makes every connection
// that is not inside a mail transaction fail its current or next command
// read, which go-smtp answers with 421 before closing it.
func (l *listener) drain() {
	l.draining.Store(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.kickIfIdle()
	}
}

// closeAll closes every open connection.
func (l *listener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Conn.Close()
	}
}

func (l *listener) remove(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// trackedConn is one accepted connection. It knows whether a mail
// transaction is open (between MAIL FROM and the end of the message or
// RSET), so that during a drain only idle connections are cut short.
type trackedConn struct {
	net.Conn
	l         *listener
	closeOnce sync.Once

	mu   sync.Mutex
	inTx bool
}

// SetReadDeadline sets t, except while draining outside a transaction,
// when the deadline is now: the pending or next read fails at once.
// go-smtp sets a read deadline before every command line it reads.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l.draining.Load() && !c.inTx {
		t = time.Now()
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline applies the SetReadDeadline rule to reads.
func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Close closes the connection and frees its slot.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() { c.l.remove(c) })
	return c.Conn.Close()
}

// kickIfIdle makes a pending read fail now unless a transaction is open.
func (c *trackedConn) kickIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inTx {
		c.Conn.SetReadDeadline(time.Now())
	}
}

func (c *trackedConn) setInTx(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inTx = v
}

// trackedConnOf finds the trackedConn under a go-smtp connection, which
// is the accepted one or, after STARTTLS, a *tls.Conn around it.
func trackedConnOf(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tc, _ := c.(*trackedConn)
	return tc
}
