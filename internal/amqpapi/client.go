package amqpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/payments"
)

// Defaults of Config.
const (
	DefaultExchange     = "transient.events"
	DefaultCommandQueue = "transient.commands"
	DefaultPrefetch     = 16
	// AppID is the app_id of every message transientd publishes.
	AppID = "transient"
)

const (
	// dialTimeout bounds connecting and the AMQP handshake.
	dialTimeout = 10 * time.Second
	// heartbeat makes a dead TCP connection known within about twice this.
	heartbeat = 10 * time.Second
	// reconnectMin and reconnectMax bound the delay between connection
	// attempts; it doubles from the first to the second.
	reconnectMin = 200 * time.Millisecond
	reconnectMax = 15 * time.Second
	// commandDrain is how long Run waits at shutdown for the commands in
	// hand to be answered.
	commandDrain = 10 * time.Second
)

// Config configures a Client. URL and Payments are required.
type Config struct {
	// URL is the broker, amqp://user:password@host:port/vhost (AMQP_URL).
	// Its password is never logged nor returned in an error.
	URL string
	// Exchange receives the events (AMQP_EXCHANGE); a durable topic
	// exchange the Client declares. Default DefaultExchange.
	Exchange string
	// CommandQueue is the durable queue of commands the Client declares and
	// consumes (AMQP_COMMAND_QUEUE). Default DefaultCommandQueue.
	CommandQueue string
	// Commands turns the command consumer on (AMQP_COMMANDS); off, the
	// Client only publishes.
	Commands bool
	// Prefetch bounds the commands in hand at once. Default
	// DefaultPrefetch.
	Prefetch int
	// Payments serves the commands.
	Payments *payments.Service
	// Logger receives connection changes, a line per command and the
	// failures. Default: discard.
	Logger *slog.Logger
	// OnMessage, when set, is called for every message with its kind
	// ("event" or "reply") and what became of it: "published" (handed to
	// the broker), then "confirmed", "failed" (refused, or no confirmation)
	// or, besides "confirmed", "returned" (no queue bound for it).
	OnMessage func(kind, result string)
	// OnCommand, when set, is called for every command consumed with its
	// type ("payments.create", "payments.get", or "unknown") and outcome:
	// the reply's status code as text, or "requeued" when the reply could
	// not be confirmed and the command goes back to the queue.
	OnCommand func(typ, outcome string)
	// OnConnected, when set, is called with true on every connection and
	// false when it is lost.
	OnConnected func(up bool)
}

// Client is transientd's connection to the broker: Run keeps it up, the
// Transport publishes events through it and, with commands on, it answers
// the command queue. It is safe for concurrent use.
type Client struct {
	cfg         Config
	broker      string // host:port/vhost, for messages
	destination string // the delivery log's destination of an event
	redact      *strings.Replacer
	log         *slog.Logger

	session atomic.Pointer[session]

	mu      sync.Mutex
	lastErr error // why the last connection attempt or connection failed
}

// ErrNotConnected means there is no connection to the broker at the moment;
// Run is connecting.
var ErrNotConnected = errors.New("amqp: not connected to the broker")

// New checks cfg and returns a Client; Run connects it. An invalid URL is
// an error that does not quote it.
func New(cfg Config) (*Client, error) {
	if cfg.Payments == nil {
		return nil, errors.New("amqp: no payment service")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return nil, errors.New("amqp: AMQP_URL must be an amqp:// or amqps:// URL with a host, e.g. amqp://user:password@127.0.0.1:5672/")
	}
	if _, err := amqp.ParseURI(cfg.URL); err != nil {
		return nil, errors.New("amqp: AMQP_URL cannot be used: percent-encode reserved characters of the user and password")
	}
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultExchange
	}
	if cfg.CommandQueue == "" {
		cfg.CommandQueue = DefaultCommandQueue
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, n := range []struct{ key, name string }{{"AMQP_EXCHANGE", cfg.Exchange}, {"AMQP_COMMAND_QUEUE", cfg.CommandQueue}} {
		if err := checkName(n.name); err != nil {
			return nil, fmt.Errorf("amqp: %s=%q: %v", n.key, n.name, err)
		}
	}
	var secrets []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw, "xxxxx")
		if esc := url.QueryEscape(pw); esc != pw {
			secrets = append(secrets, esc, "xxxxx")
		}
		if esc := url.PathEscape(pw); esc != pw {
			secrets = append(secrets, esc, "xxxxx")
		}
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	public := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: url.Values{"exchange": {cfg.Exchange}}.Encode()}
	c := &Client{
		cfg:         cfg,
		broker:      u.Host + " vhost " + vhost,
		destination: public.String(),
		redact:      strings.NewReplacer(secrets...),
	}
	c.log = slog.New(&scrubHandler{Handler: cfg.Logger.Handler(), redact: c.redact})
	return c, nil
}

// checkName accepts exchange and queue names RabbitMQ accepts and that are
// not reserved.
func checkName(name string) error {
	switch {
	case len(name) > 255:
		return errors.New("want at most 255 characters")
	case strings.HasPrefix(name, "amq."):
		return errors.New("names starting with amq. are reserved by the broker")
	case strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r))
	}):
		return errors.New("want letters, digits, -, _, . and : only")
	}
	return nil
}

// Destination is what the delivery log shows for an event's AMQP delivery:
// the broker's URL without credentials, with the exchange.
func (c *Client) Destination() string { return c.destination }

// scrub returns err with the URL's password replaced, keeping nothing of
// the original error but its text.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := c.redact.Replace(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}

// Run connects and keeps the connection up until ctx ends, reconnecting
// with backoff. It returns nil when ctx ends, after the commands in hand
// have been answered (for at most a few seconds) and the connection closed.
func (c *Client) Run(ctx context.Context) error {
	delay := reconnectMin
	for {
		s, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.setErr(err)
			c.log.Warn("cannot connect to the AMQP broker; retrying", "broker", c.broker, "err", err,
				"retry_in", delay.Round(time.Millisecond).String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(jitter(delay)):
			}
			delay = min(delay*2, reconnectMax)
			continue
		}
		delay = reconnectMin
		c.setErr(nil)
		c.session.Store(s)
		c.connected(true)
		c.log.Info("connected to the AMQP broker", "broker", c.broker, "exchange", c.cfg.Exchange,
			"command_queue", c.commandQueue())
		cause := s.wait(ctx)
		c.session.Store(nil)
		s.close(commandDrain)
		c.connected(false)
		if ctx.Err() != nil {
			c.log.Info("disconnected from the AMQP broker: shutting down")
			return nil
		}
		c.setErr(cause)
		c.log.Warn("lost the AMQP connection; reconnecting", "broker", c.broker, "err", cause)
	}
}

func (c *Client) commandQueue() string {
	if !c.cfg.Commands {
		return "(commands off)"
	}
	return c.cfg.CommandQueue
}

func (c *Client) connected(up bool) {
	if c.cfg.OnConnected != nil {
		c.cfg.OnConnected(up)
	}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// Check reports whether the Client is connected, for the readiness probe:
// a description of the connection, or an error saying why there is none.
func (c *Client) Check(context.Context) (string, error) {
	if s := c.session.Load(); s != nil {
		return fmt.Sprintf("connected; exchange %s; commands %s", c.cfg.Exchange, c.commandQueue()), nil
	}
	c.mu.Lock()
	err := c.lastErr
	c.mu.Unlock()
	if err == nil {
		return "", fmt.Errorf("%w at %s yet", ErrNotConnected, c.broker)
	}
	return "", fmt.Errorf("%w at %s: %v", ErrNotConnected, c.broker, err)
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// connect opens a connection and its channels, declares the exchange and
// the queue, and starts consuming.
func (c *Client) connect(ctx context.Context) (*session, error) {
	conn, err := amqp.DialConfig(c.cfg.URL, amqp.Config{
		Heartbeat:  heartbeat,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": "transientd", "product": "transientd"},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the handshake; amqp091 clears it once connected.
			return conn, conn.SetDeadline(time.Now().Add(dialTimeout))
		},
	})
	if err != nil {
		return nil, c.scrub(fmt.Errorf("connect to %s: %w", c.broker, err))
	}
	s := &session{c: c, conn: conn, declared: map[string]bool{}, closed: make(chan *amqp.Error, 1), stop: make(chan struct{})}
	if err := s.open(); err != nil {
		_ = conn.Close()
		return nil, c.scrub(err)
	}
	return s, nil
}
