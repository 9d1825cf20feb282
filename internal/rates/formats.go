package rates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// decodeNumbers decodes a JSON body keeping numbers as their exact text.
func decodeNumbers(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

// rateText returns the decimal text of a JSON number or of a string holding
// one.
func rateText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return x, true
	default:
		return "", false
	}
}

// ReadTransient reads Transient's own feed shape, which any exchange proxy
// or script can serve:
//
//	{"rates": {"DOGE_USD": 0.08, "BTC_USD": "60000", "BTC_EUR": 55000.5}}
//
// Keys are BASE_QUOTE pairs (case-insensitive); values are numbers or
// strings holding decimal numbers, greater than zero. Other top-level
// members are ignored. One bad entry rejects the whole answer: a feed that
// sends garbage is not trusted for the rest.
func ReadTransient(body io.Reader) (Table, error) {
	var doc struct {
		Rates map[string]any `json:"rates"`
	}
	if err := decodeNumbers(body, &doc); err != nil {
		return nil, err
	}
	if doc.Rates == nil {
		return nil, errors.New(`no "rates" object`)
	}
	t := Table{}
	for name, v := range doc.Rates {
		p, err := ParsePair(name)
		if err != nil {
			return nil, err
		}
		text, ok := rateText(v)
		if !ok {
			return nil, fmt.Errorf("%s: not a number", p)
		}
		r, err := ParseRate(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		t[p] = r
	}
	return t, nil
}

// coinGeckoIDs maps CoinGecko's coin ids to coin codes.
var coinGeckoIDs = map[string]string{
	"bitcoin":  "BTC",
	"litecoin": "LTC",
	"dogecoin": "DOGE",
}

// ReadCoinGecko reads the answer of CoinGecko's simple price endpoint
// (/api/v3/simple/price?ids=dogecoin,litecoin,bitcoin&vs_currencies=usd,eur):
//
//	{"dogecoin": {"usd": 0.08, "eur": 0.07}, "bitcoin": {"usd": 60000}}
//
// Coins other than bitcoin, litecoin and dogecoin are ignored.
func ReadCoinGecko(body io.Reader) (Table, error) {
	var doc map[string]map[string]any
	if err := decodeNumbers(body, &doc); err != nil {
		return nil, err
	}
	t := Table{}
	for id, prices := range doc {
		base, ok := coinGeckoIDs[id]
		if !ok {
			continue
		}
		for vs, v := range prices {
			quote := strings.ToUpper(vs)
			if !ValidCode(quote) || quote == base {
				continue
			}
			text, ok := rateText(v)
			if !ok {
				return nil, fmt.Errorf("%s_%s: not a number", base, quote)
			}
			r, err := ParseRate(text)
			if err != nil {
				return nil, fmt.Errorf("%s_%s: %v", base, quote, err)
			}
			t[Pair{Base: base, Quote: quote}] = r
		}
	}
	return t, nil
}

// FeedTimes read, by format name, when a feed says its rates were taken:
// the zero time when the answer does not say. A feed served from a cache
// is then judged by its own age, not by when Transient fetched it.
var FeedTimes = map[string]func(body []byte) (time.Time, error){
	"transient": transientTime,
	"coingecko": coinGeckoTime,
}

// transientTime reads the optional top-level "timestamp" (Unix seconds) of
// the transient format.
func transientTime(body []byte) (time.Time, error) {
	var doc struct {
		Timestamp *json.Number `json:"timestamp"`
	}
	if err := decodeNumbers(bytes.NewReader(body), &doc); err != nil {
		return time.Time{}, err
	}
	if doc.Timestamp == nil {
		return time.Time{}, nil
	}
	return unixTime("timestamp", *doc.Timestamp)
}

// coinGeckoTime reads the oldest "last_updated_at" (Unix seconds) of a
// CoinGecko answer asked with include_last_updated_at=true.
func coinGeckoTime(body []byte) (time.Time, error) {
	var doc map[string]map[string]any
	if err := decodeNumbers(bytes.NewReader(body), &doc); err != nil {
		return time.Time{}, err
	}
	var oldest time.Time
	for id, fields := range doc {
		if _, ok := coinGeckoIDs[id]; !ok {
			continue
		}
		v, ok := fields["last_updated_at"].(json.Number)
		if !ok {
			continue
		}
		t, err := unixTime(id+".last_updated_at", v)
		if err != nil {
			return time.Time{}, err
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, nil
}

func unixTime(name string, n json.Number) (time.Time, error) {
	sec, err := n.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}, fmt.Errorf("%s: %q is not Unix seconds", name, n)
	}
	return time.Unix(sec, 0), nil
}
