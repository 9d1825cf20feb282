// Package hangserver stands in, in tests, for a dependency that hangs: a
// loopback TCP server that accepts every connection and never answers
// (a node, PostgreSQL or a webhook receiver that is up but stuck).
package hangserver

import (
	"net"
	"sync"
	"testing"
)

// Start listens on a free loopback port until the test ends, accepting
// connections and holding them open without reading or writing. accepted
// receives once a connection has been accepted (it holds at most one
// signal; later connections do not block).
func Start(t testing.TB) (addr string, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	return l.Addr().String(), got
}
