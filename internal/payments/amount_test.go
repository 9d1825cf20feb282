package payments

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    Amount
		wantErr string
	}{
		{in: "10", want: 10 * UnitsPerCoin},
		{in: "10.5", want: 1_050_000_000},
		{in: "0.1", want: 10_000_000},
		{in: "0.2", want: 20_000_000},
		{in: "0.3", want: 30_000_000}, // 0.1 + 0.2 in float64 is 0.30000000000000004
		{in: "0.29", want: 29_000_000},
		{in: "0.57", want: 57_000_000},
		{in: "1.15", want: 115_000_000},
		{in: "0.00000001", want: 1},
		{in: "12345678.12345678", want: 1_234_567_812_345_678},
		{in: "90071992.54740993", want: 9_007_199_254_740_993}, // beyond float64's exact integers
		{in: "10000000000", want: MaxAmount},
		{in: "10.50000000000", want: 1_050_000_000}, // trailing zeros past the 8th decimal change nothing
		{in: "007", want: 7 * UnitsPerCoin},
		{in: "10.000000000", want: 1_000_000_000}, // all decimals zero: "10." after trimming
		{in: "1.000000000000", want: 100_000_000},
		{in: "1.123456780", want: 112_345_678},
		{in: "0.123456789", wantErr: moreThan8Decimals},
		{in: "0.000000001", wantErr: moreThan8Decimals},
		{in: "10.000000001", wantErr: moreThan8Decimals},
		{in: "10000000000.00000001", wantErr: "amount must be at most 10000000000"},
		{in: "99999999999999999999", wantErr: "amount must be at most 10000000000"},
		{in: "0", wantErr: "amount must be greater than 0"},
		{in: "0.00000000", wantErr: "amount must be greater than 0"},
		{in: "-1", wantErr: "amount must be greater than 0"},
		{in: "-0.00000001", wantErr: "amount must be greater than 0"},
		{in: "1e3", wantErr: "amount must be a plain decimal number such as 10.5, without an exponent"},
		{in: "1E-8", wantErr: "amount must be a plain decimal number such as 10.5, without an exponent"},
		{in: "1.", wantErr: "amount must be a decimal number such as 10.5"},
		{in: ".5", wantErr: "amount must be a decimal number such as 10.5"},
		{in: " 1", wantErr: "amount must not contain spaces"},
		{in: "1 ", wantErr: "amount must not contain spaces"},
		{in: "1 000", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "", wantErr: "amount is empty"},
		{in: "abc", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "1,5", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "+1", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "0x10", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "1.2.3", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "NaN", wantErr: "amount must be a decimal number such as 10.5"},
		{in: "Infinity", wantErr: "amount must be a decimal number such as 10.5"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in)
			if tt.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || e.Message != tt.wantErr || e.Code != CodeInvalidAmount || e.Field != "amount" {
					t.Fatalf("ParseAmount(%q) error = %v, want *Error %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseAmountJSON(t *testing.T) {
	tests := []struct {
		raw     string
		want    Amount
		wantErr string
	}{
		{raw: `10`, want: 10 * UnitsPerCoin},
		{raw: `10.5`, want: 1_050_000_000},
		{raw: `"10.5"`, want: 1_050_000_000},
		{raw: `0.00000001`, want: 1},
		{raw: `"0.00000001"`, want: 1},
		{raw: `1e2`, wantErr: "amount must be a plain decimal number such as 10.5, without an exponent"},
		{raw: `"1e2"`, wantErr: "amount must be a plain decimal number such as 10.5, without an exponent"},
		{raw: `" 10"`, wantErr: "amount must not contain spaces"},
		{raw: `-5`, wantErr: "amount must be greater than 0"},
		{raw: `null`, wantErr: "amount is required"},
		{raw: ``, wantErr: "amount is required"},
		{raw: `true`, wantErr: "amount must be a number or a string holding a decimal number"},
		{raw: `[1]`, wantErr: "amount must be a number or a string holding a decimal number"},
		{raw: `{"v":1}`, wantErr: "amount must be a number or a string holding a decimal number"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseAmountJSON(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || e.Message != tt.wantErr {
					t.Fatalf("ParseAmountJSON(%s) error = %v, want %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAmountJSON(%s) = %d, %v; want %d", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestAmountJSON(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{1_050_000_000, `10.5`},
		{1, `0.00000001`},
		{0, `0`},
		{10 * UnitsPerCoin, `10`},
		{9_007_199_254_740_993, `90071992.54740993`},
		{MaxAmount, `10000000000`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(struct{ A Amount }{tt.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != `{"A":`+tt.want+`}` {
			t.Errorf("Marshal(%d) = %s, want {\"A\":%s}", tt.in, got, tt.want)
		}
		back, err := ParseAmountJSON(json.RawMessage(tt.want))
		if tt.in > 0 && (err != nil || back != tt.in) {
			t.Errorf("round trip of %s = %d, %v", tt.want, back, err)
		}
	}
}

func TestBIP21(t *testing.T) {
	tests := []struct {
		scheme, addr string
		amount       Amount
		want         string
	}{
		{"dogecoin", "DFq66AjLeoJTtpHo47fg3rYrUydZxcANLN", 1_050_000_000, "dogecoin:DFq66AjLeoJTtpHo47fg3rYrUydZxcANLN?amount=10.5"},
		{"litecoin", "rltc1q7g4xyz", 1, "litecoin:rltc1q7g4xyz?amount=0.00000001"},
		{"bitcoin", "bc1qxyz", 0, "bitcoin:bc1qxyz"},
	}
	for _, tt := range tests {
		if got := BIP21(tt.scheme, tt.addr, tt.amount); got != tt.want {
			t.Errorf("BIP21(%s, %s, %d) = %s, want %s", tt.scheme, tt.addr, tt.amount, got, tt.want)
		}
	}
}

// TestPresentScheme: a payment's URI takes its coin's configured scheme,
// else the coin code in lower case.
func TestPresentScheme(t *testing.T) {
	s := &Service{coins: map[string]Coin{"LTC": {Code: "LTC", URIScheme: "litecoin"}, "DOGE": {Code: "DOGE"}}}
	for coin, want := range map[string]string{"LTC": "litecoin:a?amount=1", "DOGE": "doge:a?amount=1", "BTC": "btc:a?amount=1"} {
		p := &Payment{Coin: coin, Address: "a", Amount: 100_000_000}
		if s.present(p); p.URI != want {
			t.Errorf("%s: URI %q, want %q", coin, p.URI, want)
		}
	}
}
