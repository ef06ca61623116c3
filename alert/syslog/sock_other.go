//go:build !linux

package syslog

import (
	"net"
	"syscall"
	"time"
)

// control sets nothing outside Linux.
func control(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }

// peerState is what a look at a connection's receive queue found.
type peerState int

const (
	peerQuiet  peerState = iota // nothing to read: the receiver is there, or half-dead
	peerSent                    // bytes wait to be read
	peerClosed                  // the receiver closed (FIN) or reset the connection
)

// peek finds nothing outside Linux: only the drain goroutine notices a
// receiver that closed the connection.
func peek(net.Conn) peerState { return peerQuiet }
