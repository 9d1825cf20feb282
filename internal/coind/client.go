package coind

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout is the per-call timeout used when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// batchCallsPerTimeout is how many calls of a batch share one call timeout.
const batchCallsPerTimeout = 50

// maxErrorBody bounds how much of a non-200 response body is read to find a
// JSON-RPC error in it.
const maxErrorBody = 64 << 10

// Config says how to reach a node.
type Config struct {
	// URL is http://user:pass@host:port, optionally ending in /wallet/NAME
	// to address one wallet of a multiwallet node (Litecoin/Bitcoin Core
	// 0.17+; Dogecoin Core 1.14 has no multiwallet and answers 404).
	URL string
	// CookieFile is an alternative to user:pass in URL: a file holding
	// "user:pass", such as the node's .cookie. It is read on first use and
	// re-read when a call gets HTTP 401, because the node rewrites it on
	// every start.
	CookieFile string
	// Timeout bounds each call, including connecting; zero means
	// DefaultTimeout. A context deadline passed to a call that is earlier
	// wins.
	Timeout time.Duration
	// HTTPClient is used when set; otherwise the client builds its own with
	// keep-alive and up to 64 idle connections to the node. Its Timeout
	// should be zero (calls are bounded by Config.Timeout).
	HTTPClient *http.Client
	// Observe, when set, is called after every call with the RPC method,
	// how long the call took and its error (nil on success), for metrics.
	// It runs on the caller's goroutine: it must be fast and not block.
	Observe func(method string, d time.Duration, err error)
}

// Client is a JSON-RPC client for one node URL (one wallet). It is safe for
// concurrent use and keeps connections alive between calls.
type Client struct {
	endpoint   string // URL without user info, used for requests
	redacted   string // URL with the password replaced, for String
	wallet     string
	walletPath bool // the URL path is /wallet/NAME
	cookieFile string
	timeout    time.Duration
	hc         *http.Client
	observe    func(method string, d time.Duration, err error)

	auth     atomic.Pointer[string] // Authorization header value; nil = not read yet
	cookieMu sync.Mutex             // serializes cookie file reads
	nextID   atomic.Uint64
	info     atomic.Pointer[NodeInfo] // cached getnetworkinfo
}

// New checks cfg and returns a client. The URL must be http or https, name a
// host and carry no query or fragment. No connection is made. Error texts
// never include the password.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("coind: invalid url %q", redactRawURL(cfg.URL))
	}
	// Error texts quote the raw URL with its user info hidden: u.Redacted()
	// would show an opaque URL such as "user:pass@host" as it is.
	shown := redactRawURL(cfg.URL)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("coind: url %q: scheme must be http or https", shown)
	case u.Host == "":
		return nil, fmt.Errorf("coind: url %q: no host", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("coind: url %q: query and fragment are not allowed", shown)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("coind: url %q: negative timeout %s", shown, cfg.Timeout)
	}
	_, hasPass := u.User.Password()
	if cfg.CookieFile != "" && hasPass {
		return nil, fmt.Errorf("coind: url %q: give a password in the url or a cookie file, not both", shown)
	}

	c := &Client{
		redacted:   u.Redacted(),
		cookieFile: cfg.CookieFile,
		timeout:    cfg.Timeout,
		hc:         cfg.HTTPClient,
		observe:    cfg.Observe,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.hc == nil {
		c.hc = newHTTPClient()
	}
	if name, ok := strings.CutPrefix(u.Path, "/wallet/"); ok {
		c.wallet = name
		c.walletPath = true
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		c.setAuth(u.User.Username(), pass)
	}
	bare := *u
	bare.User = nil
	c.endpoint = bare.String()
	return c, nil
}

// newHTTPClient returns the default HTTP client: keep-alive, many idle
// connections per host (the node serves 16 concurrent callers best), no
// proxy, no redirects, idle connections dropped before the node's own
// 30 s idle timeout (-rpcservertimeout) closes them.
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       25 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// redactRawURL hides the user info of a URL that did not parse.
func redactRawURL(raw string) string {
	i := strings.Index(raw, "://")
	j := strings.LastIndex(raw, "@")
	if i >= 0 && j > i {
		return raw[:i+3] + "xxxxx@" + raw[j+1:]
	}
	if j >= 0 {
		return "xxxxx@" + raw[j+1:]
	}
	return raw
}

// Wallet returns the wallet name from the URL's /wallet/NAME path, "" when
// the URL has none (or names the default wallet with "/wallet/").
func (c *Client) Wallet() string { return c.wallet }

// String returns the URL with the password redacted.
func (c *Client) String() string { return c.redacted }

// Close releases idle connections. The client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// setAuth stores the Basic authorization header for user:pass.
func (c *Client) setAuth(user, pass string) {
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	c.auth.Store(&h)
}

// authHeader returns the Authorization header value, reading the cookie
// file on first use. It returns "" when no credentials are configured.
func (c *Client) authHeader() (string, error) {
	if h := c.auth.Load(); h != nil {
		return *h, nil
	}
	if c.cookieFile == "" {
		return "", nil
	}
	return c.readCookie("")
}

// readCookie reads the cookie file and stores its credentials, unless
// another goroutine already replaced the header used (stale) with a
// different one, which is then returned as is.
func (c *Client) readCookie(stale string) (string, error) {
	c.cookieMu.Lock()
	defer c.cookieMu.Unlock()
	if h := c.auth.Load(); h != nil && *h != stale {
		return *h, nil
	}
	data, err := os.ReadFile(c.cookieFile)
	if err != nil {
		// The node deletes its cookie on shutdown: a missing cookie most
		// likely means the node is not running.
		return "", fmt.Errorf("%w: read cookie file: %w", ErrUnavailable, err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok {
		return "", fmt.Errorf("cookie file %s: want \"user:password\"", c.cookieFile)
	}
	c.setAuth(user, pass)
	return *c.auth.Load(), nil
}

// Call sends one JSON-RPC request and decodes the "result" member into
// result, which must be nil (result discarded), a *json.RawMessage or a
// pointer to a value encoding/json can decode into. Numbers decoded into an
// interface become json.Number (the decoder uses UseNumber), so amounts stay
// exact: convert them with ParseAmount.
//
// Errors: RPC errors are *Error (errors.As); transport failures, timeouts,
// HTTP 503 and 5xx without a JSON-RPC body and RPC -28 match
// ErrUnavailable; HTTP 401 ErrUnauthorized; HTTP 404 with an empty body on a
// /wallet/ URL and RPC -18 ErrWalletNotFound; RPC -32601
// ErrMethodNotFound. A canceled ctx returns an error matching
// context.Canceled. Call never retries, except once after a 401 when the
// cookie file has changed.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	if result != nil {
		if v := reflect.ValueOf(result); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("coind: %s: result must be nil or a non-nil pointer, not %T", method, result)
		}
	}
	return c.call(ctx, method, params, result)
}

// call is Call without the check of result; it reports each call to
// Config.Observe.
func (c *Client) call(ctx context.Context, method string, params []any, result any) error {
	if c.observe == nil {
		return c.send(ctx, method, params, result)
	}
	start := time.Now()
	err := c.send(ctx, method, params, result)
	c.observe(method, time.Since(start), err)
	return err
}

// send makes one call.
func (c *Client) send(ctx context.Context, method string, params []any, result any) error {
	return c.sendFor(ctx, c.timeout, method, params, result)
}

// sendFor makes one call bounded by timeout instead of the client's call
// timeout, for the calls whose work grows with their arguments (importing
// and rescanning).
func (c *Client) sendFor(ctx context.Context, timeout time.Duration, method string, params []any, result any) error {
	body, err := c.encodeRequest(method, params)
	if err != nil {
		return fmt.Errorf("coind: %s: encode params: %w", method, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.roundTrip(ctx, callCtx, method, body)
	if err != nil {
		return err
	}
	defer discardBody(resp)
	if resp.StatusCode != http.StatusOK {
		return c.statusError(method, resp)
	}
	return decodeResponse(method, resp.Body, result)
}

// roundTrip posts body with the credentials, reading the cookie file again
// once after a 401. ctx is the caller's context, callCtx the one bounded by
// the call timeout.
func (c *Client) roundTrip(ctx, callCtx context.Context, method string, body []byte) (*http.Response, error) {
	auth, err := c.authHeader()
	if err != nil {
		return nil, fmt.Errorf("coind: %s: %w", method, err)
	}
	resp, err := c.post(callCtx, body, auth)
	if err != nil {
		return nil, c.transportError(ctx, method, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.cookieFile != "" {
		discardBody(resp)
		fresh, err := c.readCookie(auth)
		if err != nil {
			return nil, fmt.Errorf("coind: %s: %w", method, err)
		}
		if fresh == auth {
			return nil, fmt.Errorf("coind: %s: %w (http 401)", method, ErrUnauthorized)
		}
		if resp, err = c.post(callCtx, body, fresh); err != nil {
			return nil, c.transportError(ctx, method, err)
		}
	}
	return resp, nil
}

// callBatch sends len(params) calls of method in one HTTP request (a
// JSON-RPC batch: the node answers them in one response) and decodes the
// result of call i into results[i]. It returns one error per call (nil
// where the call succeeded), or a single error when the request as a whole
// failed. The node works through a batch one call after another, so the
// request gets the call timeout once per batchCallsPerTimeout calls.
// Config.Observe sees the batch as method "batch:"+method.
func (c *Client) callBatch(ctx context.Context, method string, params [][]any, results []any) ([]error, error) {
	start := time.Now()
	errs, err := c.sendBatch(ctx, method, params, results)
	if c.observe != nil {
		c.observe("batch:"+method, time.Since(start), err)
	}
	return errs, err
}

func (c *Client) sendBatch(ctx context.Context, method string, params [][]any, results []any) ([]error, error) {
	if len(params) == 0 {
		return nil, nil
	}
	body := []byte{'['}
	ids := make(map[uint64]int, len(params))
	for i, p := range params {
		if i > 0 {
			body = append(body, ',')
		}
		id := c.nextID.Add(1)
		ids[id] = i
		var err error
		if body, err = appendRequest(body, id, method, p); err != nil {
			return nil, fmt.Errorf("coind: %s: encode params: %w", method, err)
		}
	}
	body = append(body, ']')
	callCtx, cancel := context.WithTimeout(ctx, c.timeout*time.Duration(1+len(params)/batchCallsPerTimeout))
	defer cancel()
	resp, err := c.roundTrip(ctx, callCtx, method, body)
	if err != nil {
		return nil, err
	}
	defer discardBody(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(method, resp)
	}
	var answers []struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
		ID     uint64          `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answers); err != nil {
		if isTruncation(err) {
			return nil, fmt.Errorf("coind: %s: %w: reading response: %w", method, ErrUnavailable, err)
		}
		return nil, fmt.Errorf("coind: %s: decode batch response: %w", method, err)
	}
	errs := make([]error, len(params))
	seen := make([]bool, len(params))
	for _, a := range answers {
		i, ok := ids[a.ID]
		if !ok || seen[i] {
			continue
		}
		seen[i] = true
		switch {
		case a.Error != nil:
			errs[i] = &Error{Code: a.Error.Code, Message: a.Error.Message, Method: method}
		case results[i] != nil:
			dec := json.NewDecoder(bytes.NewReader(a.Result))
			dec.UseNumber()
			if err := dec.Decode(results[i]); err != nil {
				errs[i] = fmt.Errorf("coind: %s: decode response: %w", method, err)
			}
		}
	}
	for i := range errs {
		if !seen[i] {
			errs[i] = fmt.Errorf("coind: %s: %w: the batch response has no answer for call %d", method, ErrUnavailable, i)
		}
	}
	return errs, nil
}

// post sends one request body.
func (c *Client) post(ctx context.Context, body []byte, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return c.hc.Do(req)
}

// discardBody drains (a bounded part of) the body and closes it, so the
// connection can be reused.
func discardBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// encodeRequest builds {"jsonrpc":"1.0","id":N,"method":...,"params":[...]}.
// Strings, integers, booleans and nil are appended directly; other params go
// through json.Marshal.
func (c *Client) encodeRequest(method string, params []any) ([]byte, error) {
	b := make([]byte, 0, 64+len(method)+32*len(params))
	return appendRequest(b, c.nextID.Add(1), method, params)
}

// appendRequest appends one request with the given id to b.
func appendRequest(b []byte, id uint64, method string, params []any) ([]byte, error) {
	b = append(b, `{"jsonrpc":"1.0","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"method":`...)
	b, err := appendJSON(b, method)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"params":[`...)
	for i, p := range params {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSON(b, p); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// appendJSON appends the JSON encoding of v.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		if plainASCII(v) {
			b = append(b, '"')
			b = append(b, v...)
			return append(b, '"'), nil
		}
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// plainASCII reports whether s can be put between JSON quotes unescaped.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// rpcResponse is a JSON-RPC 1.0 response. Result holds the caller's pointer
// so the result is decoded in place, in one pass.
type rpcResponse struct {
	Result any       `json:"result"`
	Error  *rpcError `json:"error"`
}

// rpcError is the "error" member of a response.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// discard decodes any JSON value into nothing.
type discard struct{}

// UnmarshalJSON ignores data.
func (*discard) UnmarshalJSON([]byte) error { return nil }

// decodeResponse decodes a 200 response body into result.
func decodeResponse(method string, body io.Reader, result any) error {
	if result == nil {
		result = new(discard)
	}
	resp := rpcResponse{Result: result}
	dec := json.NewDecoder(body)
	dec.UseNumber()
	err := dec.Decode(&resp)
	if resp.Error != nil {
		return &Error{Code: resp.Error.Code, Message: resp.Error.Message, Method: method}
	}
	if err != nil {
		if isTruncation(err) {
			return fmt.Errorf("coind: %s: %w: reading response: %w", method, ErrUnavailable, err)
		}
		return fmt.Errorf("coind: %s: decode response: %w", method, err)
	}
	return nil
}

// isTruncation reports whether a decode error comes from the connection
// breaking or timing out mid-body rather than from bad JSON.
func isTruncation(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// statusError maps a non-200 response. A JSON-RPC error in the body wins;
// otherwise the status decides.
func (c *Client) statusError(method string, resp *http.Response) error {
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var r rpcResponse
	r.Result = new(discard)
	if len(body) > 0 && json.Unmarshal(body, &r) == nil && r.Error != nil {
		return &Error{Code: r.Error.Code, Message: r.Error.Message, Method: method}
	}
	status := resp.StatusCode
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	switch {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("coind: %s: %w (http 401)", method, ErrUnauthorized)
	case status == http.StatusNotFound && len(body) == 0 && c.walletPath:
		return fmt.Errorf("coind: %s: %w: %s answered http 404 (a node without multiwallet, such as Dogecoin Core, has no /wallet/ endpoint)", method, ErrWalletNotFound, c.redacted)
	case status >= 500 || readErr != nil:
		return fmt.Errorf("coind: %s: %w: http %d %q", method, ErrUnavailable, status, text)
	}
	return fmt.Errorf("coind: %s: unexpected http %d %q", method, status, text)
}

// transportError maps an error from http.Client.Do. ctx is the caller's
// context (without the per-call timeout).
func (c *Client) transportError(ctx context.Context, method string, err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its text repeats the URL; the cause is enough
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("coind: %s: %w", method, context.Canceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("coind: %s: %w: no answer in time (call timeout %s): %w", method, ErrUnavailable, c.timeout, err)
	}
	return fmt.Errorf("coind: %s: %w: %w", method, ErrUnavailable, err)
}
