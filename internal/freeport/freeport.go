// Package freeport picks loopback ports for servers that start later: a
// transientd, a node's RPC server, a throwaway PostgreSQL, started by the
// tests and by the dev stack.
//
// Listening on port 0 and closing gives a port that was free a moment ago,
// but the kernel gives the ports of its ephemeral range back out: the next
// listener on port 0 (a webhook receiver) or outgoing connection may take
// it before the server it was picked for binds it. The ports Addr returns
// lie outside that range, where the kernel never picks on its own, and
// are handed out once per process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// tries bounds the picks Addr makes before giving up: ports that other
// servers of the machine hold are skipped.
const tries = 200

// handedOut holds the ports Addr has returned in this process.
var handedOut sync.Map

// Addr returns 127.0.0.1:PORT with a port that was free a moment ago,
// outside the kernel's ephemeral range (Range) and not returned before by
// this process.
func Addr() (string, error) {
	return addrIn(Range())
}

// addrIn is Addr picking from [low, high).
func addrIn(low, high int) (string, error) {
	for range tries {
		port := low + rand.IntN(high-low)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // another server of the machine holds it
		}
		l.Close()
		return addr, nil
	}
	return "", fmt.Errorf("freeport: no free port in %d–%d after %d tries", low, high-1, tries)
}

// Port is Addr's port.
func Port() (int, error) {
	addr, err := Addr()
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(addr)
	return strconv.Atoi(p)
}

// Range returns the ports Addr picks from, [low, high): from 10000 up to
// the kernel's ephemeral range (32768–60999 unless
// /proc/sys/net/ipv4/ip_local_port_range says otherwise), or, when that
// leaves fewer than 1,000, up to 1,000 ports above it.
func Range() (low, high int) {
	ephemeralLow, ephemeralHigh := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && 0 < l && l <= h {
				ephemeralLow, ephemeralHigh = l, h
			}
		}
	}
	if ephemeralLow-10000 >= 1000 {
		return 10000, ephemeralLow
	}
	return ephemeralHigh + 1, min(ephemeralHigh+1001, 65536)
}
