package hangserver

import (
	"net"
	"testing"
	"time"
)

// TestStart: a connection is accepted and signalled, and nothing is ever
// written to it.
func TestStart(t *testing.T) {
	addr, accepted := Start(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no accept signalled after 10 s")
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, err %v: want no answer (a timeout)", n, err)
	}
}
