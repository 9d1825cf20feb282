package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestAddr: the ports Addr hands out are distinct, free, and outside the
// range the kernel gives a listener on port 0, so no such listener (a
// webhook receiver once did) or outgoing connection takes one before the
// server it was picked for binds it.
func TestAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	low, high := Range()
	if p := l.Addr().(*net.TCPAddr).Port; p >= low && p < high {
		t.Fatalf("the kernel gave port %d to a listener on port 0, inside Addr's %d–%d", p, low, high-1)
	}
	seen := map[string]bool{}
	for range 100 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if seen[addr] || port < low || port >= high {
			t.Fatalf("Addr returned %s (seen before: %t), want a new port in %d–%d", addr, seen[addr], low, high-1)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("Addr returned %s, which cannot be bound: %v", addr, err)
		}
		ln.Close()
	}
	if port, err := Port(); err != nil || port < low || port >= high {
		t.Errorf("Port() = %d, %v; want a port in %d–%d", port, err, low, high-1)
	}
}

// TestAddrSkipsHeldPorts: a port another server holds is not returned:
// of twenty ports, nineteen held, the free one is.
func TestAddrSkipsHeldPorts(t *testing.T) {
	low, high := Range()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	// Twenty free ports in a row not handed out yet, from the top of the
	// range down (Addr's other tests pick at random across it).
	start := 0
	for s := high - 20; s >= low && start == 0; s -= 20 {
		held = held[:0]
		for p := s; p < s+20; p++ {
			if _, done := handedOut.Load(p); done {
				break
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			held = append(held, l)
		}
		if len(held) == 20 {
			start = s
		} else {
			for _, l := range held {
				l.Close()
			}
		}
	}
	if start == 0 {
		t.Fatal("no twenty free ports in a row")
	}
	free := start + 7
	held[7].Close()
	held = append(held[:7], held[8:]...)
	addr, err := addrIn(start, start+20)
	if err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(free)); addr != want {
		t.Fatalf("addrIn returned %s, want %s, the one port of twenty not held", addr, want)
	}
	if _, err := addrIn(start, start+20); err == nil {
		t.Error("addrIn found a port where every one is held or handed out")
	}
}
