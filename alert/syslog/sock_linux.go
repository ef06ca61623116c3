package syslog

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT (linux/tcp.h), which package
// syscall does not name.
const tcpUserTimeout = 0x12

// control returns the dialer's socket setup: on a TCP socket, a
// TCP_USER_TIMEOUT of timeout, so that data the receiver does not
// acknowledge for that long breaks the connection and the next write
// fails, rather than the kernel retransmitting for a quarter of an hour.
func control(timeout time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(network, _ string, c syscall.RawConn) error {
		if network != "tcp" && network != "tcp4" && network != "tcp6" {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(timeout.Milliseconds()))
		})
		return errors.Join(err, serr)
	}
}

// peerState is what a look at a connection's receive queue found.
type peerState int

const (
	peerQuiet  peerState = iota // nothing to read: the receiver is there, or half-dead
	peerSent                    // bytes wait to be read
	peerClosed                  // the receiver closed (FIN) or reset the connection
)

// peek looks at the receive queue of the TCP connection nc without
// reading from it or waiting.
func peek(nc net.Conn) peerState {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return peerQuiet
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peerClosed
	}
	state := peerQuiet
	var b [1]byte
	// Control, not Read: the drain goroutine holds the read lock.
	err = rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			state = peerSent
		case err == syscall.EAGAIN || err == syscall.EINTR:
		default: // n == 0: end of stream; or an error such as ECONNRESET
			state = peerClosed
		}
	})
	if err != nil {
		return peerClosed
	}
	return state
}
