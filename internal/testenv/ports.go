package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
)

// Ports drawn by FreePorts lie in [minPort, the kernel's ephemeral floor):
// above the fixed ports deploy/ scripts default to (18123-19300), below the
// ports the kernel hands out to outgoing connections.
const (
	minPort          = 20_000
	defaultEphemeral = 32_768 // Linux's default ip_local_port_range floor
)

// FreePorts returns n distinct loopback ports that are free for both TCP
// and UDP now, for servers a test starts as other processes.
//
// Ports come from below the kernel's ephemeral range, never from
// "127.0.0.1:0": a port the kernel picked and the test released can be
// taken as the local end of any outgoing connection on the machine before
// the server binds it, or while a fault test has the server stopped (a CI
// run makes thousands of connections). Below the
// ephemeral range only another explicit bind can take a port. No port is
// handed out twice in one process.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	floor := ephemeralFloor()
	given.Lock()
	defer given.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == 10_000 {
			tb.Fatalf("no %d free loopback ports in [%d, %d)", n, minPort, floor)
		}
		p := minPort + rand.IntN(floor-minPort)
		if !given.ports[p] && portFree(p) {
			ports = append(ports, p)
			given.ports[p] = true
		}
	}
	return ports
}

// given holds the ports this process has handed out, none of which it
// hands out again: the server one test was given may be stopped (and its
// port free) when another test asks.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns "127.0.0.1:port" for one port of FreePorts.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePorts(tb, 1)[0])
}

// portFree reports whether port p can be bound on 127.0.0.1 for TCP and UDP.
func portFree(p int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// ephemeralFloor is the lowest port of the kernel's ephemeral range, or
// Linux's default where /proc does not say or leaves too few ports below.
func ephemeralFloor() int {
	var lo int
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if _, err := fmt.Sscan(string(b), &lo); err != nil || lo <= minPort+1000 {
		return defaultEphemeral
	}
	return lo
}
