package rates

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzReadFeed reads any answer of a rates feed in both formats. A feed
// that is accepted holds only valid pairs of different codes and rates
// greater than zero that convert a price to base units without trouble,
// and the table survives being written as RATES_STATIC and read back.
func FuzzReadFeed(f *testing.F) {
	for _, s := range []string{
		`{"rates": {"DOGE_USD": 0.08, "BTC_USD": "60000", "btc_eur": 55000.5}}`,
		`{"dogecoin": {"usd": 0.08, "eur": 0.07}, "bitcoin": {"usd": 60000}, "other": {"usd": 1}}`,
		`{"rates": {"DOGE_USD": 1e-99999}}`, `{"rates": {"DOGE_USD": 1e400}}`, `{"rates": {"DOGE_USD": -1}}`,
		`{"rates": {"DOGE_DOGE": 1}}`, `{"rates": {"DOGE_USD": "NaN"}}`, `{"rates": {"D_USD": 1}}`, `{"rates": null}`,
		`{"dogecoin": {"doge": 1, "usd": " 0.1 "}}`, `{"rates": {"DOGE_USD": 0.` + strings.Repeat("0", 400) + `1}}`, `[]`, ``,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, coinGecko bool, body []byte) {
		read := ReadTransient
		if coinGecko {
			read = ReadCoinGecko
		}
		table, err := read(bytes.NewReader(body))
		if err != nil {
			return
		}
		for p, r := range table {
			if !ValidCode(p.Base) || !ValidCode(p.Quote) || p.Base == p.Quote {
				t.Fatalf("accepted pair %+v", p)
			}
			if !r.IsPositive() {
				t.Fatalf("accepted rate %s for %s", r, p)
			}
			if _, err := CoinUnits(decimal.NewFromInt(1000), r); err != nil && err != ErrAmountRange {
				t.Fatalf("rate %s of %s cannot convert a price: %v", r, p, err)
			}
		}
		back, err := ParseStatic(table.String())
		if err != nil || len(back) != len(table) {
			t.Fatalf("the table %q does not read back: %v", table.String(), err)
		}
		for p, r := range table {
			if !back[p].Equal(r) {
				t.Fatalf("%s reads back as %s, was %s", p, back[p], r)
			}
		}
	})
}

// FuzzParseStatic: RATES_STATIC as an operator writes it. An accepted
// setting is written back by Table.String in a form that reads back to
// the same table.
func FuzzParseStatic(f *testing.F) {
	for _, s := range []string{"DOGE_USD=0.08,BTC_USD=60000,BTC_EUR=55000", " doge_usd = 1 ", "DOGE_USD=1,DOGE_USD=2",
		"DOGE_USD", "=1", "DOGE_USD=0", "DOGE_USD=1e5", "A_B=1", ",,,", "DOGE_USD=1=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		table, err := ParseStatic(s)
		if err != nil {
			return
		}
		back, err := ParseStatic(table.String())
		if err != nil || len(back) != len(table) {
			t.Fatalf("ParseStatic(%q) wrote %q, which does not read back: %v", s, table.String(), err)
		}
		for p, r := range table {
			if !r.IsPositive() || !back[p].Equal(r) {
				t.Fatalf("ParseStatic(%q): %s is %s, reads back as %s", s, p, r, back[p])
			}
		}
	})
}
