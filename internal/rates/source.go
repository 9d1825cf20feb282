package rates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ParseRate parses a rate given as decimal text (a JSON number's text or a
// string): it must be a finite number greater than zero.
func ParseRate(s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal number", s)
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("%q is not greater than zero", s)
	}
	return d, nil
}

// ParseStatic parses fixed rates written as
// "DOGE_USD=0.08,BTC_USD=60000,BTC_EUR=55000" (spaces around items are
// ignored). Each pair must be given once.
func ParseStatic(s string) (Table, error) {
	t := Table{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want PAIR=RATE, e.g. DOGE_USD=0.08", item)
		}
		p, err := ParsePair(name)
		if err != nil {
			return nil, fmt.Errorf("%q: want PAIR=RATE with a pair such as DOGE_USD", item)
		}
		if _, dup := t[p]; dup {
			return nil, fmt.Errorf("%s is given twice", p)
		}
		r, err := ParseRate(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		t[p] = r
	}
	return t, nil
}

// String writes t back as PAIR=RATE items sorted by pair.
func (t Table) String() string {
	items := make([]string, 0, len(t))
	for p, r := range t {
		items = append(items, p.String()+"="+r.String())
	}
	sort.Strings(items)
	return strings.Join(items, ",")
}

// Format reads one feed's response body into a table. Adding an exchange
// means adding a Format to Formats: a small function from its JSON to pairs.
type Format func(body io.Reader) (Table, error)

// Formats are the response shapes HTTPSource can read, by name (the values
// of RATES_FORMAT).
var Formats = map[string]Format{
	"transient": ReadTransient,
	"coingecko": ReadCoinGecko,
}

// maxFeedBytes bounds a feed's response body.
const maxFeedBytes = 1 << 20

// HTTPSource fetches rates with a GET from a URL and reads the answer with
// a Format.
type HTTPSource struct {
	name     string
	url      string
	format   Format
	feedTime func([]byte) (time.Time, error) // nil: the format carries no time
	client   *http.Client
}

// NewHTTPSource returns a source reading rawURL's JSON with the named format
// (a key of Formats). Each fetch is bounded by timeout (default 10 s).
func NewHTTPSource(name, rawURL, format string, timeout time.Duration) (*HTTPSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("want an absolute http(s) URL")
	}
	f, ok := Formats[format]
	if !ok {
		names := make([]string, 0, len(Formats))
		for n := range Formats {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(names, ", "))
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &HTTPSource{name: name, url: rawURL, format: f, feedTime: FeedTimes[format], client: &http.Client{Timeout: timeout}}, nil
}

// Name returns the source's name.
func (h *HTTPSource) Name() string { return h.name }

// Fetch asks the URL and reads its answer. Any status but 200, a body over
// 1 MiB or an answer the format cannot read is an error.
func (h *HTTPSource) Fetch(ctx context.Context) (Table, error) {
	t, _, err := h.FetchDated(ctx)
	return t, err
}

// FetchDated is Fetch that also returns when the feed says its rates were
// taken (the zero time when it does not say).
func (h *HTTPSource) FetchDated(ctx context.Context) (Table, time.Time, error) {
	raw, err := h.get(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	t, err := h.format(bytes.NewReader(raw))
	if err != nil || h.feedTime == nil {
		return t, time.Time{}, err
	}
	at, err := h.feedTime(raw)
	if err != nil {
		return nil, time.Time{}, err
	}
	return t, at, nil
}

// get returns the body of a GET of the URL.
func (h *HTTPSource) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Transient-Rates/1")
	resp, err := h.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may carry an API key: do not log it
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxFeedBytes))
		return nil, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	body := io.LimitReader(resp.Body, maxFeedBytes+1)
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxFeedBytes {
		return nil, fmt.Errorf("answer is larger than %d bytes", maxFeedBytes)
	}
	return raw, nil
}

// StaticSource gives the same table at every fetch. It is meant for tests
// and for a source that is configured rather than fetched; Config.Static is
// the usual home of fixed rates.
type StaticSource struct {
	SourceName string
	Rates      Table
}

// Name returns the source's name.
func (s StaticSource) Name() string { return s.SourceName }

// Fetch returns a copy of the table.
func (s StaticSource) Fetch(context.Context) (Table, error) {
	t := make(Table, len(s.Rates))
	for p, r := range s.Rates {
		t[p] = r
	}
	return t, nil
}
