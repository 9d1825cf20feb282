package hookclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// A hook run is a process that sends one request and exits, and most of
// what it costs is start-up and net/http's machinery: a Transport with its
// connection pool, a reader and a writer goroutine per connection, proxy
// lookup. For the usual case, a plain http:// URL to transientd with no
// proxy in the environment, postPlain writes the one HTTP/1.1 request
// itself on a net.Dial'ed connection and reads the one answer; https:// URLs
// and proxied hosts keep going through net/http (postHTTP).

// proxyEnv lists the variables net/http's ProxyFromEnvironment reads.
var proxyEnv = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "REQUEST_METHOD"}

// plainOK says whether u can take the direct path: http://, no userinfo
// (net/http would turn it into Basic auth) and no proxy variable set
// (REQUEST_METHOD: net/http ignores HTTP_PROXY under CGI, so we do not
// second-guess it either).
func plainOK(u *url.URL) bool {
	if u.Scheme != "http" || u.User != nil || u.Host == "" {
		return false
	}
	for _, k := range proxyEnv {
		if os.Getenv(k) != "" {
			return false
		}
	}
	return true
}

// answer is what came back: the status and up to 4 KiB of the body.
type answer struct {
	status int
	body   []byte
}

// errTimeout marks a request that ran out of its context's time.
var errTimeout = errors.New("timeout")

// postPlain sends one POST with body to u over a fresh connection and reads
// the answer, all bounded by ctx.
func postPlain(ctx context.Context, u *url.URL, token string, body []byte) (answer, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, errTimeout
		}
		return answer{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Like net/http: the request line carries the path, Host the authority.
	var b strings.Builder
	b.Grow(256 + len(body))
	b.WriteString("POST ")
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(u.Host)
	b.WriteString("\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nContent-Type: application/json\r\n")
	if token != "" {
		b.WriteString("Authorization: Bearer ")
		b.WriteString(token)
		b.WriteString("\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return answer{}, netErr(ctx, err)
	}
	a, err := readAnswer(bufio.NewReader(conn))
	if err != nil {
		return answer{}, netErr(ctx, err)
	}
	return a, nil
}

// netErr turns a deadline hit into errTimeout.
func netErr(ctx context.Context, err error) error {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return errTimeout
	}
	return err
}

// readAnswer reads an HTTP/1.x response: status line, headers, and up to
// 4 KiB of a body framed by Content-Length, chunked encoding or the end of
// the connection. 1xx interim answers are skipped, as net/http does.
func readAnswer(br *bufio.Reader) (answer, error) {
	tp := textproto.NewReader(br)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return answer{}, fmt.Errorf("malformed HTTP response: %w", err)
		}
		proto, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
			return answer{}, fmt.Errorf("malformed HTTP response %q", line)
		}
		status, err := strconv.Atoi(rest[:3])
		if err != nil || status < 100 || status > 999 {
			return answer{}, fmt.Errorf("malformed HTTP status code %q", rest)
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			return answer{}, fmt.Errorf("malformed HTTP response headers: %w", err)
		}
		if status >= 100 && status < 200 && status != 101 {
			continue
		}
		if status == 202 {
			// Stored: the body does not matter and the connection closes.
			return answer{status: status}, nil
		}
		var r io.Reader = br
		switch {
		case strings.EqualFold(hdr.Get("Transfer-Encoding"), "chunked"):
			r = &chunked{br: br}
		case hdr.Get("Content-Length") != "":
			n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
			if err != nil || n < 0 {
				return answer{}, fmt.Errorf("bad Content-Length %q", hdr.Get("Content-Length"))
			}
			r = io.LimitReader(br, n)
		}
		// The body only decorates an error: a broken one is not an error.
		raw, _ := io.ReadAll(io.LimitReader(r, 4096))
		return answer{status: status, body: raw}, nil
	}
}

// chunked decodes a chunked body (RFC 9112 7.1), ignoring extensions and
// trailers.
type chunked struct {
	br   *bufio.Reader
	left int64
	done bool
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		size, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 {
			return 0, errors.New("malformed chunk size")
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		// The CRLF after the chunk's data.
		if _, err := c.br.Discard(2); err != nil {
			return n, err
		}
	}
	return n, err
}
