package testenv

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePorts: the ports are distinct (across calls too), below the
// kernel's ephemeral range and above the deploy scripts' fixed ones, and
// bindable for TCP and UDP; a port in use is never handed out.
func TestFreePorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(minPort))
	if err != nil {
		t.Skipf("cannot hold port %d for the test: %v", minPort, err)
	}
	defer busy.Close()
	if portFree(minPort) {
		t.Errorf("portFree(%d) with a listener on it", minPort)
	}
	floor := ephemeralFloor()
	seen := map[int]bool{}
	for _, p := range FreePorts(t, 200) {
		if p < minPort || p >= floor || seen[p] {
			t.Errorf("port %d: outside [%d, %d) or repeated", p, minPort, floor)
		}
		seen[p] = true
		if p == minPort {
			t.Errorf("port %d is in use, yet handed out", p)
		}
	}
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	if p, _ := strconv.Atoi(port); seen[p] {
		t.Errorf("FreeAddr %s: a port FreePorts already handed out", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr %s: %v", addr, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("FreeAddr %s (UDP): %v", addr, err)
	}
	pc.Close()
}

func TestEphemeralFloor(t *testing.T) {
	if f := ephemeralFloor(); f <= minPort || f > 65535 {
		t.Errorf("ephemeralFloor() = %d", f)
	}
}
