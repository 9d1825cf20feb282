// Package config loads transientd's settings from the environment (and an
// optional .env file) into one typed struct, once, at start-up. Every key is
// documented in .env.example with its default.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/throttle"
	"github.com/transient-gateway/transient/internal/xpub"
)

// Coin is the configuration of one coin.
type Coin struct {
	Code          string // e.g. "DOGE"
	RPCURL        string // http://user:pass@host:port[/wallet/NAME]
	RPCCookieFile string
	Confirmations int64
	// ZeroConf accepts payments at 0 confirmations (<COIN>_ZERO_CONF):
	// confirmations 0 and BitPay transactionSpeed high. Off, every payment
	// needs at least one confirmation.
	ZeroConf  bool
	URIScheme string
	// MaxAmount is the largest amount one payment may ask for, in base
	// units; 0 means the coin's default (payments.DefaultMaxAmount).
	MaxAmount int64
	// XPub is the merchant's account key (<COIN>_XPUB, with
	// <COIN>_ADDRESS_TYPE applied); nil means the node's wallet makes the
	// addresses.
	XPub *xpub.Key
	// GapWarn is the gap between the highest index handed out and the
	// highest paid above which transientd warns (<COIN>_GAP_WARN).
	GapWarn int64
}

// Config is every setting of transientd.
type Config struct {
	ListenAddr  string
	MetricsAddr string
	DatabaseURL string
	DBMaxConns  int32
	PublicURL   string
	Coins       []Coin
	RPCTimeout  time.Duration

	APIKeys              []string
	AllowUnauthenticated bool
	NotifyToken          string

	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the per-client limits; empty means the connection's
	// address is the client.
	TrustedProxies []netip.Prefix
	// AuthFailuresPerMinute is how many failed authentications (API key,
	// NOTIFY_TOKEN, BitPay token or signature) one client may make a
	// minute, in bursts of as many; 0 means no limit.
	AuthFailuresPerMinute int
	// StreamMaxOpen caps the checkout streams open at once (0: sized from
	// the file descriptor limit at start); StreamMaxPerPayment those of one
	// payment.
	StreamMaxOpen       int
	StreamMaxPerPayment int
	// FrameAncestors lists the origins that may show the checkout page in
	// a frame; empty means none.
	FrameAncestors []string

	PaymentExpiry    time.Duration
	TolerancePercent string // as given; ToleranceBP holds the parsed value
	ToleranceBP      int64
	MonitoringWindow time.Duration
	MigrateOnStart   bool

	CatchUpInterval  time.Duration
	DeadlineInterval time.Duration
	HintWorkers      int
	JobRescueAfter   time.Duration

	// AddressPoolSize is how many fresh addresses per coin are kept ready
	// in PostgreSQL (0: off, every payment asks the node); the pool is
	// filled again once fewer than AddressPoolLowWater remain (0: half).
	AddressPoolSize     int
	AddressPoolLowWater int

	WebhookURL    string
	WebhookSecret string
	WebhookMaxAge time.Duration
	// WebhookRetention is how long the delivery log is kept
	// (WEBHOOK_RETENTION, or its former name WEBHOOK_LOG_RETENTION).
	WebhookRetention    time.Duration
	WebhookAllowPrivate bool
	// WebhookCreatedEvents sends each payment's payment.created event to
	// PAYMENT_WEBHOOK_URL and the payment's callback URL
	// (WEBHOOK_CREATED_EVENTS, default false).
	WebhookCreatedEvents bool
	WebhookWorkers       int
	// WebhookRetrySchedule is the delay after each failed attempt, the last
	// repeated (WEBHOOK_RETRY_SCHEDULE); nil means the default schedule.
	WebhookRetrySchedule []time.Duration

	// HTTPDrainTimeout bounds how long in-flight requests may take to
	// finish after SIGTERM; JobDrainTimeout how long running jobs may take
	// before they are cancelled (and retried later).
	HTTPDrainTimeout time.Duration
	JobDrainTimeout  time.Duration

	LogFormat string
	LogLevel  string
}

// defaultXPubPoolSize is ADDRESS_POOL_SIZE when a coin has an extended
// public key and the key is unset.
const defaultXPubPoolSize = 100

// Defaults per coin, documented in .env.example and the README.
var (
	defaultConfirmations = map[string]int64{"BTC": 3, "LTC": 6, "DOGE": 6}
	defaultURIScheme     = map[string]string{"BTC": "bitcoin", "LTC": "litecoin", "DOGE": "dogecoin"}
	// defaultZeroConf is on only where the coin's node relays no
	// replacement of a transaction that does not signal BIP 125: Litecoin
	// Core 0.21 relays no replacement at all by default
	// (-mempoolreplacement=0) and Dogecoin Core 1.14 only opt-in ones, while
	// Bitcoin Core 28 relays full RBF. Other coins are off until the
	// operator knows better.
	defaultZeroConf = map[string]bool{"LTC": true, "DOGE": true}
)

// Load reads the configuration from getenv. When envFile names an existing
// file, its keys fill in whatever the environment does not set (the
// environment wins). All problems are reported together, one line per key,
// each naming the key and the expected form; secrets never appear in them.
func Load(getenv func(string) string, envFile string) (*Config, error) {
	getenv, err := WithEnvFile(getenv, envFile)
	if err != nil {
		return nil, err
	}
	p := &parser{getenv: getenv}
	c := &Config{
		ListenAddr:            p.addr("LISTEN_ADDR", "127.0.0.1:8080"),
		MetricsAddr:           p.optionalAddr("METRICS_ADDR"),
		PublicURL:             p.publicURL("PUBLIC_URL"),
		RPCTimeout:            p.duration("RPC_TIMEOUT", 5*time.Second, time.Second, 5*time.Minute),
		APIKeys:               p.list("API_KEYS"),
		AllowUnauthenticated:  p.boolean("ALLOW_UNAUTHENTICATED", false),
		NotifyToken:           p.get("NOTIFY_TOKEN"),
		TrustedProxies:        p.prefixes("TRUSTED_PROXIES"),
		AuthFailuresPerMinute: p.intRange("AUTH_FAILURES_PER_MINUTE", 10, 0, 100000),
		StreamMaxOpen:         p.intRange("STREAM_MAX_OPEN", 0, 0, 1000000),
		StreamMaxPerPayment:   p.intRange("STREAM_MAX_PER_PAYMENT", 20, 1, 100000),
		FrameAncestors:        p.origins("CHECKOUT_FRAME_ANCESTORS"),
		PaymentExpiry:         p.duration("PAYMENT_EXPIRY", 0, 0, 365*24*time.Hour),
		MonitoringWindow:      p.duration("MONITORING_WINDOW", 24*time.Hour, 0, 365*24*time.Hour),
		MigrateOnStart:        p.boolean("MIGRATE_ON_START", true),
		CatchUpInterval:       p.duration("CATCHUP_INTERVAL", 30*time.Second, 100*time.Millisecond, 24*time.Hour),
		DeadlineInterval:      p.duration("DEADLINE_INTERVAL", 10*time.Second, 100*time.Millisecond, time.Hour),
		HintWorkers:           p.intRange("HINT_WORKERS", 256, 1, 10000),
		JobRescueAfter:        p.duration("JOB_RESCUE_AFTER", time.Minute, 5*time.Second, 24*time.Hour),
		AddressPoolSize:       p.intRange("ADDRESS_POOL_SIZE", 0, 0, 1_000_000),
		AddressPoolLowWater:   p.intRange("ADDRESS_POOL_LOW_WATER", 0, 0, 1_000_000),
		WebhookURL:            p.webhookURL("PAYMENT_WEBHOOK_URL"),
		WebhookSecret:         p.get("PAYMENT_WEBHOOK_SECRET"),
		WebhookMaxAge:         p.duration("WEBHOOK_MAX_AGE", 72*time.Hour, time.Minute, 90*24*time.Hour),
		WebhookRetention:      p.duration(p.firstSet("WEBHOOK_RETENTION", "WEBHOOK_LOG_RETENTION"), 60*24*time.Hour, time.Hour, 3650*24*time.Hour),
		WebhookAllowPrivate:   p.boolean("WEBHOOK_ALLOW_PRIVATE", false),
		WebhookCreatedEvents:  p.boolean("WEBHOOK_CREATED_EVENTS", false),
		WebhookWorkers:        p.intRange("WEBHOOK_WORKERS", 32, 1, 1000),
		WebhookRetrySchedule:  p.durations("WEBHOOK_RETRY_SCHEDULE", 10*time.Millisecond, 24*time.Hour),
		HTTPDrainTimeout:      p.duration("HTTP_DRAIN_TIMEOUT", 15*time.Second, time.Second, 10*time.Minute),
		JobDrainTimeout:       p.duration("JOB_DRAIN_TIMEOUT", 10*time.Second, time.Second, 10*time.Minute),
	}
	p.databaseAndLogs(c)
	c.TolerancePercent, c.ToleranceBP = p.percent("PAYMENT_TOLERANCE_PERCENT")
	c.Coins = p.coins(true)
	if p.get("ADDRESS_POOL_SIZE") == "" && slices.ContainsFunc(c.Coins, func(c Coin) bool { return c.XPub != nil }) {
		// Derived addresses are imported into the node ahead of time.
		c.AddressPoolSize = defaultXPubPoolSize
	}
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the rules that span several keys. An empty API_KEYS is
// valid here: keys may also be stored in the database (transientd apikeys
// create), which only the daemon can check (ErrNoAPIKeys).
func (c *Config) Validate() error {
	var errs []error
	for _, k := range c.APIKeys {
		if len(k) < 16 {
			errs = append(errs, errors.New("config: API_KEYS: every key must be at least 16 characters long"))
			break
		}
	}
	if c.NotifyToken != "" && len(c.NotifyToken) < 16 {
		errs = append(errs, errors.New("config: NOTIFY_TOKEN must be at least 16 characters long"))
	}
	for _, coin := range c.Coins {
		if coin.XPub != nil && c.AddressPoolSize == 0 {
			errs = append(errs, fmt.Errorf("config: %s_XPUB needs the address pool (addresses are imported into the node "+
				"before they are handed out): set ADDRESS_POOL_SIZE above 0 or leave it unset for %d", coin.Code, defaultXPubPoolSize))
		}
	}
	if c.AddressPoolLowWater > c.AddressPoolSize {
		errs = append(errs, fmt.Errorf("config: ADDRESS_POOL_LOW_WATER (%d) must be at most ADDRESS_POOL_SIZE (%d)", c.AddressPoolLowWater, c.AddressPoolSize))
	}
	// A short secret can be guessed from one signed webhook.
	if c.WebhookSecret != "" && len(c.WebhookSecret) < 16 {
		errs = append(errs, errors.New("config: PAYMENT_WEBHOOK_SECRET must be at least 16 bytes long (e.g. openssl rand -hex 32)"))
	}
	for _, coin := range c.Coins {
		if d := coind.ConfirmationTime(coin.Code, coin.Confirmations); c.MonitoringWindow > 0 && d > c.MonitoringWindow {
			errs = append(errs, fmt.Errorf("config: %s_CONFIRMATIONS (%d) takes about %s on %s (a block every %s), longer than MONITORING_WINDOW (%s): "+
				"lower it to at most %d or lengthen the window", coin.Code, coin.Confirmations, d, coin.Code,
				coind.BlockInterval(coin.Code), c.MonitoringWindow, int64(c.MonitoringWindow/coind.BlockInterval(coin.Code))))
		}
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.ListenAddr {
		errs = append(errs, errors.New("config: METRICS_ADDR must differ from LISTEN_ADDR (leave it empty to serve /metrics on LISTEN_ADDR)"))
	}
	return errors.Join(errs...)
}

// ErrNoAPIKeys is the refusal to start with no API key at all: API_KEYS is
// empty, the database holds no active key, and ALLOW_UNAUTHENTICATED is not
// set.
var ErrNoAPIKeys = errors.New("config: API_KEYS is empty and the database holds no API key: set API_KEYS " +
	"(comma-separated keys of at least 16 characters), create one with `transientd apikeys create --label NAME`, " +
	"or set ALLOW_UNAUTHENTICATED=true")

// Coin returns the configuration of code.
func (c *Config) Coin(code string) (Coin, bool) {
	i := slices.IndexFunc(c.Coins, func(x Coin) bool { return x.Code == code })
	if i < 0 {
		return Coin{}, false
	}
	return c.Coins[i], true
}

// String describes the configuration for the log with every secret
// replaced by its length.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen=%s", c.ListenAddr)
	if c.MetricsAddr != "" {
		fmt.Fprintf(&b, " metrics_listen=%s", c.MetricsAddr)
	}
	fmt.Fprintf(&b, " database=%s coins=", redactURL(c.DatabaseURL))
	for i, coin := range c.Coins {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s(%s conf=%d", coin.Code, redactURL(coin.RPCURL), coin.Confirmations)
		if coin.XPub != nil {
			// The key itself would reveal every address and so the shop's
			// takings: only its kind is logged.
			fmt.Fprintf(&b, " xpub=%s %s", coin.XPub.Prefix, coin.XPub.Type)
		}
		b.WriteByte(')')
	}
	fmt.Fprintf(&b, " api_keys=%d notify_token=%s webhook=%s webhook_secret=%s public_url=%s",
		len(c.APIKeys), secretState(c.NotifyToken), redactURL(c.WebhookURL), secretState(c.WebhookSecret), c.PublicURL)
	if c.AddressPoolSize > 0 {
		fmt.Fprintf(&b, " address_pool=%d", c.AddressPoolSize)
	}
	return b.String()
}

func secretState(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// redactURL hides the password of a URL; unparsable input is hidden whole.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// parser reads keys and collects one error per bad key.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(key string) string { return strings.TrimSpace(p.getenv(key)) }

// firstSet returns the first of keys that is set, or the first key when
// none is: a setting's current name, then its former names.
func (p *parser) firstSet(keys ...string) string {
	for _, k := range keys {
		if p.get(k) != "" {
			return k
		}
	}
	return keys[0]
}

func (p *parser) fail(key, want string) {
	p.errs = append(p.errs, fmt.Errorf("config: %s: want %s", key, want))
}

func (p *parser) failValue(key, value, want string) {
	p.errs = append(p.errs, fmt.Errorf("config: %s=%q: want %s", key, value, want))
}

func (p *parser) addr(key, def string) string {
	v := p.get(key)
	if v == "" {
		return def
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.failValue(key, v, "host:port, e.g. 127.0.0.1:8080")
	}
	return v
}

func (p *parser) optionalAddr(key string) string {
	if p.get(key) == "" {
		return ""
	}
	return p.addr(key, "")
}

func (p *parser) databaseURL(key string) string {
	v := p.get(key)
	if v == "" {
		p.fail(key, "a PostgreSQL URL, e.g. postgres://transient@127.0.0.1:5432/transient")
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The value may hold a password: never echo it.
		p.fail(key, "a PostgreSQL URL starting with postgres://")
	}
	return v
}

func (p *parser) publicURL(key string) string {
	v := strings.TrimRight(p.get(key), "/")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		p.failValue(key, v, "the absolute http(s) URL shops and buyers reach transientd at, e.g. https://pay.example.com")
	}
	return v
}

func (p *parser) webhookURL(key string) string {
	v := p.get(key)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(key, "an absolute http(s) URL, e.g. https://shop.example.com/transient-webhook")
	}
	return v
}

// prefixes reads a list of addresses and CIDR networks.
func (p *parser) prefixes(key string) []netip.Prefix {
	v := p.get(key)
	out, err := throttle.ParsePrefixes(v)
	if err != nil {
		p.failValue(key, v, "comma-separated addresses or CIDR networks, e.g. 127.0.0.1,10.0.0.0/8")
		return nil
	}
	return out
}

// originRE is what a frame-ancestors source may be here: a scheme and
// host, optionally a port, with an optional leading *. for subdomains.
var originRE = regexp.MustCompile(`^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// origins reads a list of origins such as https://shop.example.
func (p *parser) origins(key string) []string {
	list := p.list(key)
	for _, o := range list {
		if !originRE.MatchString(o) {
			p.failValue(key, o, "comma-separated origins such as https://shop.example or https://*.shop.example")
			return nil
		}
	}
	return list
}

func (p *parser) list(key string) []string {
	var out []string
	for _, s := range strings.Split(p.get(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) boolean(key string, def bool) bool {
	v := p.get(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.failValue(key, v, "true or false")
		return def
	}
	return b
}

func (p *parser) intRange(key string, def, lo, hi int) int {
	v := p.get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.failValue(key, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

// duration accepts Go durations (90s, 15m, 24h) and, for 0, "0" or "never".
func (p *parser) duration(key string, def, lo, hi time.Duration) time.Duration {
	v := p.get(key)
	if v == "" {
		return def
	}
	if lo == 0 && (v == "0" || strings.EqualFold(v, "never")) {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		want := fmt.Sprintf("a duration such as 90s, 15m or 24h, from %s to %s", lo, hi)
		if lo == 0 {
			want = fmt.Sprintf("a duration such as 15m or 24h (at most %s), or 0 for never", hi)
		}
		p.failValue(key, v, want)
		return def
	}
	return d
}

// durations accepts a comma-separated list of durations, each from lo to
// hi; empty means nil.
func (p *parser) durations(key string, lo, hi time.Duration) []time.Duration {
	var out []time.Duration
	for _, v := range p.list(key) {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			p.failValue(key, p.get(key), fmt.Sprintf("a comma-separated list of durations such as 10s,1m,5m,30m,1h, each from %s to %s", lo, hi))
			return nil
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v := strings.ToLower(p.get(key))
	if v == "" {
		return def
	}
	if !slices.Contains(allowed, v) {
		p.failValue(key, v, "one of "+strings.Join(allowed, ", "))
		return def
	}
	return v
}

var percentRE = regexp.MustCompile(`^([0-9]{1,3})(?:\.([0-9]{1,2}))?$`)

// percent parses a percentage with at most two decimals into basis points.
func (p *parser) percent(key string) (string, int64) {
	v := p.get(key)
	if v == "" {
		return "0", 0
	}
	m := percentRE.FindStringSubmatch(v)
	if m == nil {
		p.failValue(key, v, "a percentage from 0 to 100 with at most two decimals, e.g. 0.5")
		return v, 0
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac := int64(0)
	if m[2] != "" {
		frac, _ = strconv.ParseInt((m[2] + "0")[:2], 10, 64)
	}
	bp := whole*100 + frac
	if bp > 10000 {
		p.failValue(key, v, "a percentage from 0 to 100")
		return v, 0
	}
	return v, bp
}

var coinCodeRE = regexp.MustCompile(`^[A-Z0-9]{2,10}$`)

// coins reads COINS and the keys of each coin. With needNode false (the
// database commands) COINS may be empty and the node's keys are not
// required: only what presenting a payment needs is read.
func (p *parser) coins(needNode bool) []Coin {
	codes := p.list("COINS")
	if len(codes) == 0 {
		if needNode {
			p.fail("COINS", "a comma-separated list of coin codes, e.g. DOGE,LTC,BTC")
		}
		return nil
	}
	var out []Coin
	for _, code := range codes {
		code = strings.ToUpper(code)
		if !coinCodeRE.MatchString(code) {
			p.failValue("COINS", code, "coin codes of 2 to 10 letters or digits, e.g. DOGE")
			continue
		}
		if slices.ContainsFunc(out, func(c Coin) bool { return c.Code == code }) {
			p.failValue("COINS", code, "each coin once")
			continue
		}
		c := Coin{
			Code:          code,
			RPCURL:        p.get(code + "_RPC_URL"),
			RPCCookieFile: p.get(code + "_RPC_COOKIE_FILE"),
		}
		if needNode {
			p.nodeURL(c)
		}
		def, ok := defaultConfirmations[code]
		if !ok {
			def = 6
		}
		c.Confirmations = int64(p.intRange(code+"_CONFIRMATIONS", int(def), 0, 1000))
		c.ZeroConf = p.boolean(code+"_ZERO_CONF", defaultZeroConf[code])
		if c.Confirmations == 0 && !c.ZeroConf {
			p.fail(code+"_CONFIRMATIONS", "at least 1 while "+code+"_ZERO_CONF is false (0 accepts unconfirmed payments)")
		}
		if v := p.get(code + "_MAX_AMOUNT"); v != "" {
			units, err := coind.ParseAmount(v)
			if err != nil || units <= 0 {
				p.failValue(code+"_MAX_AMOUNT", v, "an amount in coins greater than 0, e.g. 1000 or 0.5")
			}
			c.MaxAmount = units
		}
		p.xpub(&c)
		c.URIScheme = strings.ToLower(p.get(code + "_URI_SCHEME"))
		if c.URIScheme == "" {
			c.URIScheme = defaultURIScheme[code]
		}
		if c.URIScheme == "" {
			p.fail(code+"_URI_SCHEME", "the BIP21 URI scheme of "+code+", e.g. litecoin")
		} else if !regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`).MatchString(c.URIScheme) {
			p.failValue(code+"_URI_SCHEME", c.URIScheme, "a URI scheme such as dogecoin")
		}
		out = append(out, c)
	}
	return out
}

// xpub reads <COIN>_XPUB, <COIN>_ADDRESS_TYPE and <COIN>_GAP_WARN. A key
// that cannot be used stops the start with the reason; the value itself is
// never repeated (a private key pasted by mistake stays out of the logs).
func (p *parser) xpub(c *Coin) {
	code := c.Code
	c.GapWarn = int64(p.intRange(code+"_GAP_WARN", 20, 1, 1_000_000))
	typ := xpub.AddressType(strings.ToLower(p.get(code + "_ADDRESS_TYPE")))
	v := p.get(code + "_XPUB")
	if v == "" {
		if typ != "" {
			p.fail(code+"_ADDRESS_TYPE", "no value without "+code+"_XPUB (the node's wallet chooses its own address type)")
		}
		return
	}
	k, err := xpub.Parse(code, v, typ)
	if err != nil {
		key := code + "_XPUB"
		if errors.Is(err, xpub.ErrAddressType) && typ != "" {
			key = code + "_ADDRESS_TYPE"
		}
		p.errs = append(p.errs, fmt.Errorf("config: %s: %w", key, err))
		return
	}
	c.XPub = k
}

// nodeURL checks the RPC settings of c.
func (p *parser) nodeURL(c Coin) {
	code := c.Code
	if c.RPCURL == "" {
		p.fail(code+"_RPC_URL", "the node's JSON-RPC URL, http://user:pass@host:port, optionally ending in /wallet/NAME")
	} else if u, err := url.Parse(c.RPCURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(code+"_RPC_URL", "http://user:pass@host:port, optionally ending in /wallet/NAME")
	} else if u.User == nil && c.RPCCookieFile == "" {
		p.fail(code+"_RPC_URL", "credentials: user:pass in the URL, or "+code+"_RPC_COOKIE_FILE")
	}
}

// LoadDatabase reads only what the database commands need (DATABASE_URL,
// DATABASE_MAX_CONNS and the log settings), so they work without the coin
// and API settings of the daemon. When COINS is set, the coins' URI schemes
// and confirmations are read too (to present payments as the API does), but
// not their node settings.
func LoadDatabase(getenv func(string) string, envFile string) (*Config, error) {
	getenv, err := WithEnvFile(getenv, envFile)
	if err != nil {
		return nil, err
	}
	p := &parser{getenv: getenv}
	c := &Config{}
	p.databaseAndLogs(c)
	c.Coins = p.coins(false)
	return c, errors.Join(p.errs...)
}

// databaseAndLogs reads the keys every command needs: the database and the
// log settings.
func (p *parser) databaseAndLogs(c *Config) {
	c.DatabaseURL = p.databaseURL("DATABASE_URL")
	c.DBMaxConns = int32(p.intRange("DATABASE_MAX_CONNS", 20, 2, 1000))
	c.LogFormat = p.oneOf("LOG_FORMAT", "text", "text", "json")
	c.LogLevel = p.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
}

// WithEnvFile returns a getenv that falls back to the keys of envFile when
// that file exists; the environment wins.
func WithEnvFile(getenv func(string) string, envFile string) (func(string) string, error) {
	if envFile == "" {
		return getenv, nil
	}
	vals, err := godotenv.Read(envFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return getenv, nil
	case err != nil:
		return nil, fmt.Errorf("config: read %s: %w", envFile, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}
