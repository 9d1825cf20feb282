package payments

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newValidator returns a service that can validate requests: no database
// and no node are touched by validate.
func newValidator() *Service {
	return NewService(nil, Config{Coins: []Coin{
		{Code: "LTC", Confirmations: 6}, {Code: "BTC", Confirmations: 3}, {Code: "DOGE", Confirmations: 6},
		{Code: "TEST", Confirmations: 1, MaxAmount: 5 * UnitsPerCoin},
	}})
}

// TestValidateRefusesWhatPostgresCannotStore: every value PostgreSQL would
// refuse (and so answer 500, after the node handed out an address) is a
// validation error naming its field.
func TestValidateRefusesWhatPostgresCannotStore(t *testing.T) {
	s := newValidator()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deep := strings.Repeat(`{"a":`, maxMetadataDepth) + "1" + strings.Repeat("}", maxMetadataDepth)
	deeper := strings.Repeat(`[`, maxMetadataDepth) + "1" + strings.Repeat("]", maxMetadataDepth) // one level too many inside {"x":…}
	var many strings.Builder
	many.WriteString("{")
	for i := range maxMetadataKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	many.WriteString("}")
	tests := []struct {
		name  string
		req   CreateRequest
		field string
		msg   string
	}{
		{"NUL in order_id", CreateRequest{OrderID: "a\x00b"}, "order_id", "NUL"},
		{"invalid UTF-8 in order_id", CreateRequest{OrderID: "a\xffb"}, "order_id", "UTF-8"},
		{"NUL in account", CreateRequest{Label: "\x00"}, "account", "NUL"},
		{"NUL escape in metadata", CreateRequest{Metadata: json.RawMessage(`{"a":"x\u0000y"}`)}, "metadata", `\u0000`},
		{"NUL escape in a metadata key", CreateRequest{Metadata: json.RawMessage(`{"\u0000":1}`)}, "metadata", `\u0000`},
		{"lone high surrogate", CreateRequest{Metadata: json.RawMessage(`{"a":"\ud800"}`)}, "metadata", "surrogate"},
		{"lone low surrogate", CreateRequest{Metadata: json.RawMessage(`{"a":"\uDC00x"}`)}, "metadata", "surrogate"},
		{"reversed pair", CreateRequest{Metadata: json.RawMessage(`{"a":"\udc00\ud800"}`)}, "metadata", "surrogate"},
		{"invalid UTF-8 in metadata", CreateRequest{Metadata: json.RawMessage("{\"a\":\"\xff\"}")}, "metadata", "UTF-8"},
		{"invalid UTF-8 in a metadata key", CreateRequest{Metadata: json.RawMessage("{\"\xff\":1}")}, "metadata", "UTF-8"},
		{"huge number", CreateRequest{Metadata: json.RawMessage(`{"a":1e1000000}`)}, "metadata", "numbers"},
		{"tiny number", CreateRequest{Metadata: json.RawMessage(`{"a":1e-1000000}`)}, "metadata", "numbers"},
		{"number above a double", CreateRequest{Metadata: json.RawMessage(`{"a":[2e308]}`)}, "metadata", "numbers"},
		{"too deep", CreateRequest{Metadata: json.RawMessage(`{"x":` + deeper + `}`)}, "metadata", "levels"},
		{"too many keys", CreateRequest{Metadata: json.RawMessage(many.String())}, "metadata", "keys"},
		{"callback with upper-case private", CreateRequest{CallbackURL: "HTTP://127.0.0.1/hook"}, "callback_url", "private"},
		{"callback as decimal loopback", CreateRequest{CallbackURL: "http://2130706433:9/cb"}, "callback_url", "private"},
		{"callback as short loopback", CreateRequest{CallbackURL: "http://127.1/"}, "callback_url", "private"},
		{"callback as decimal public", CreateRequest{CallbackURL: "http://134744072/"}, "callback_url", "dotted"},
		{"redirect with credentials", CreateRequest{RedirectURL: "https://user:pass@shop.example/x"}, "redirect_url", "user:password@"},
		{"redirect with user only", CreateRequest{RedirectURL: "https://user@shop.example/x"}, "redirect_url", "user:password@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Coin, req.Amount = "LTC", UnitsPerCoin
			_, _, err := s.validate(req, now)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("validate: %v, want an *Error", err)
			}
			if e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error on %q: %q, want field %q and a message with %q", e.Field, e.Message, tt.field, tt.msg)
			}
		})
	}
	ok := []CreateRequest{
		{Metadata: json.RawMessage(`{"a":"\ud83d\ude00","b":"\\u0000 is text here","c":1.5e300,"d":-2E-300}`)},
		{Metadata: json.RawMessage(deep)},
		{OrderID: "café ☕", Label: "vip"},
	}
	for i, req := range ok {
		req.Coin, req.Amount = "LTC", UnitsPerCoin
		if _, _, err := s.validate(req, now); err != nil {
			t.Errorf("valid request %d refused: %v", i, err)
		}
	}
}

// TestValidateNormalizesURLs: schemes are case-insensitive, so HTTPS://
// is accepted and stored as https://, which the database's CHECK and every
// later comparison expect.
func TestValidateNormalizesURLs(t *testing.T) {
	s := newValidator()
	p, _, err := s.validate(CreateRequest{Coin: "LTC", Amount: 1, CallbackURL: "HTTPS://shop.example/Hook?A=1",
		RedirectURL: "Http://shop.example/Thanks"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.CallbackURL != "https://shop.example/Hook?A=1" || p.RedirectURL != "http://shop.example/Thanks" {
		t.Errorf("stored %q and %q", p.CallbackURL, p.RedirectURL)
	}
	// A callback URL may carry credentials for the shop's receiver.
	if _, _, err := s.validate(CreateRequest{Coin: "LTC", Amount: 1, CallbackURL: "https://u:p@shop.example/hook"}, time.Now()); err != nil {
		t.Errorf("callback with credentials refused: %v", err)
	}
}

func TestValidateMaxAmountPerCoin(t *testing.T) {
	s := newValidator()
	tests := []struct {
		coin   string
		amount Amount
		ok     bool
	}{
		{"BTC", 21_000_000 * UnitsPerCoin, true},
		{"BTC", 21_000_000*UnitsPerCoin + 1, false},
		{"LTC", 21_000_000 * UnitsPerCoin, true},
		{"LTC", 21_000_001 * UnitsPerCoin, false},
		{"DOGE", MaxAmount, true},
		{"DOGE", MaxAmount + 1, false},
		{"TEST", 5 * UnitsPerCoin, true},
		{"TEST", 5*UnitsPerCoin + 1, false},
	}
	for _, tt := range tests {
		_, _, err := s.validate(CreateRequest{Coin: tt.coin, Amount: tt.amount}, time.Now())
		if (err == nil) != tt.ok {
			t.Errorf("%s %s: err %v, want ok=%v", tt.amount, tt.coin, err, tt.ok)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Field != "amount" || !strings.Contains(e.Message, tt.coin)) {
			t.Errorf("%s %s: %v, want an amount error naming the coin", tt.amount, tt.coin, err)
		}
	}
}

// TestPublicLeavesOutMerchantFields: the public view carries every field
// of the full one except the merchant's own, so a field added to
// PaymentJSON must be sorted into one of the two lists here.
func TestPublicLeavesOutMerchantFields(t *testing.T) {
	order, redirect := "A-1", "https://shop.example/thanks?session=abc"
	full := PaymentJSON{ID: "x", Currency: "LTC", Account: "vip", OrderID: &order, RedirectURL: &redirect,
		Metadata: json.RawMessage(`{"email":"ada@example.com"}`), Transactions: []TransactionJSON{}}
	fullBytes, _ := json.Marshal(full)
	publicBytes, _ := json.Marshal(full.Public())
	var fullKeys, publicKeys map[string]any
	_ = json.Unmarshal(fullBytes, &fullKeys)
	_ = json.Unmarshal(publicBytes, &publicKeys)
	private := map[string]bool{"account": true, "order_id": true, "metadata": true, "redirect_url": true}
	for k := range fullKeys {
		if _, shown := publicKeys[k]; shown == private[k] {
			t.Errorf("field %q: in the public view %v, private %v", k, shown, private[k])
		}
	}
	if len(publicKeys) != len(fullKeys)-len(private) {
		t.Errorf("public view has %d fields, full %d", len(publicKeys), len(fullKeys))
	}
	for _, secret := range []string{"ada@example.com", "session=abc", "vip", "A-1"} {
		if strings.Contains(string(publicBytes), secret) {
			t.Errorf("public view holds %q: %s", secret, publicBytes)
		}
	}
}

func TestPublicJSON(t *testing.T) {
	order := "A-1"
	full, _ := json.Marshal(PaymentJSON{ID: "x", Account: "vip", OrderID: &order, Metadata: json.RawMessage(`{"e":"ada@example.com"}`),
		Transactions: []TransactionJSON{}})
	out, err := PublicJSON(full)
	if err != nil {
		t.Fatal(err)
	}
	// Byte for byte what marshalling the public view gives: the stream
	// compares them to send an unchanged state only once.
	want, _ := json.Marshal(PaymentJSON{ID: "x", Transactions: []TransactionJSON{}}.Public())
	if string(out) != string(want) {
		t.Errorf("PublicJSON = %s\nwant          %s", out, want)
	}
	if _, err := PublicJSON([]byte(`[1]`)); err == nil {
		t.Error("PublicJSON of an array: no error")
	}
	spaced, err := PublicJSON([]byte(`{"id": "x", "metadata": {"a": [1, 2]}, "n": [1, 2]}`))
	if err != nil || string(spaced) != `{"id":"x","n":[1,2]}` {
		t.Errorf("PublicJSON of spaced JSON = %s, %v", spaced, err)
	}
}
