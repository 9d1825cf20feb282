package bitpay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/rates"
	"github.com/transient-gateway/transient/internal/regtest"
)

// FuzzSIN: NormalizeSIN accepts only text that decodes, in the standard or
// the legacy alphabet, to a SIN with a valid checksum, and answers it in
// the standard alphabet; SIN(key) of any valid key is such a SIN.
func FuzzSIN(f *testing.F) {
	key, _ := btcec.NewPrivateKey()
	sin := SIN(key.PubKey().SerializeCompressed())
	for _, s := range []string{sin, sin[:len(sin)-1] + "x", "R" + sin[1:], "", "1", "0OIl", "TeyN4LPrXiG5t2yuSamKqP3ynVk3F52iHrX"} {
		f.Add(s, []byte{0x02, 1, 2})
	}
	f.Fuzz(func(t *testing.T, s string, seed []byte) {
		if len(s) > 200 {
			return // base58 decoding is quadratic; SINs are 35 characters
		}
		if norm, ok := NormalizeSIN(s); ok {
			b, err := base58Decode(norm)
			if err != nil || !validSINBytes(b) || !ValidSIN(norm) {
				t.Fatalf("NormalizeSIN(%q) = %q, not a valid SIN", s, norm)
			}
			if ValidSIN(s) && norm != s {
				t.Fatalf("NormalizeSIN changed the valid SIN %q to %q", s, norm)
			}
		} else if ValidSIN(s) {
			t.Fatalf("NormalizeSIN refused the valid SIN %q", s)
		}
		// Any key: its SIN is valid and base58 round-trips.
		var scalar btcec.ModNScalar
		scalar.SetByteSlice(seed)
		if scalar.IsZero() {
			return
		}
		k := btcec.PrivKeyFromScalar(&scalar)
		got := SIN(k.PubKey().SerializeCompressed())
		if !ValidSIN(got) {
			t.Fatalf("SIN of key %x is %q, not valid", seed, got)
		}
	})
}

// FuzzIdentitySignature: X-Identity and X-Signature as a client sends
// them. ParseIdentity accepts only a compressed point on the curve;
// VerifySignature refuses with one of the three documented errors and
// accepts only a signature that verifies. A signature made with the key
// verifies for its message and not for another.
func FuzzIdentitySignature(f *testing.F) {
	key, _ := btcec.NewPrivateKey()
	pub := hex.EncodeToString(key.PubKey().SerializeCompressed())
	msg := []byte("http://127.0.0.1/invoices{\"price\":1}")
	hash := sha256.Sum256(msg)
	sig := hex.EncodeToString(ecdsa.Sign(key, hash[:]).Serialize())
	for _, tc := range [][2]string{{pub, sig}, {pub, sig + "00"}, {"04" + pub[2:], sig}, {pub[:64], sig[:10]},
		{strings.ToUpper(pub), strings.ToUpper(sig)}, {"", ""}, {"zz", "3006020101020101"}, {pub, "3000"}} {
		f.Add(tc[0], tc[1], msg)
	}
	f.Fuzz(func(t *testing.T, identity, signature string, message []byte) {
		raw, err := ParseIdentity(identity)
		if err != nil {
			if !errors.Is(err, ErrBadIdentity) {
				t.Fatalf("ParseIdentity(%q) = %v, want ErrBadIdentity", identity, err)
			}
			raw = key.PubKey().SerializeCompressed()
		} else {
			p, perr := btcec.ParsePubKey(raw)
			if perr != nil || len(raw) != 33 || hex.EncodeToString(p.SerializeCompressed()) != strings.ToLower(identity) {
				t.Fatalf("ParseIdentity(%q) accepted %x", identity, raw)
			}
		}
		switch err := VerifySignature(raw, message, signature); {
		case err == nil:
			der, _ := hex.DecodeString(signature)
			s, perr := ecdsa.ParseDERSignature(der)
			h := sha256.Sum256(message)
			p, _ := btcec.ParsePubKey(raw)
			if perr != nil || !s.Verify(h[:], p) {
				t.Fatalf("VerifySignature accepted %q for %q", signature, message)
			}
		case errors.Is(err, ErrBadSignature), errors.Is(err, ErrSignatureMismatch), errors.Is(err, ErrBadIdentity):
		default:
			t.Fatalf("VerifySignature(%q) = %v, not a documented error", signature, err)
		}
		h := sha256.Sum256(message)
		good := hex.EncodeToString(ecdsa.Sign(key, h[:]).Serialize())
		if err := VerifySignature(key.PubKey().SerializeCompressed(), message, good); err != nil {
			t.Fatalf("a fresh signature of %q: %v", message, err)
		}
		if err := VerifySignature(key.PubKey().SerializeCompressed(), append(message, 'x'), good); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("a signature of another message: %v, want ErrSignatureMismatch", err)
		}
	})
}

// FuzzInvoiceFields: the parsers of price, expirationTime, dateStart and
// dateEnd and the pairing code. An accepted price is positive and is the
// exact value of its text; an accepted time is within the year 9999;
// every refusal is a *RequestError naming its field.
func FuzzInvoiceFields(f *testing.F) {
	for _, s := range []string{"12.5", `"12.50"`, "1e-05", `" 3 "`, "0", "-1", "1e308", "NaN", `"Infinity"`, "null",
		"99999999999999999999.99999999999999999999e99", "1767225600000", `"1767225600000"`, "1.7e12", "9223372036854775807",
		"2026-01-31", "2026-01-31T10:00:00Z", "9999-12-31", "253402300799999", "253402300800000", "-5", "{}", `"\u0031"`} {
		f.Add(s)
	}
	checkRefusal := func(t *testing.T, field, in string, err error) {
		t.Helper()
		var re *RequestError
		if !errors.As(err, &re) || re.Field != field || classify(err).status != http.StatusBadRequest {
			t.Fatalf("%s %q refused with %v, want a 400 *RequestError on %s", field, in, err, field)
		}
	}
	maxTime := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parsePrice(json.RawMessage(s)); err != nil {
			checkRefusal(t, "price", s, err)
		} else {
			text := strings.TrimSpace(s)
			if strings.HasPrefix(text, `"`) {
				_ = json.Unmarshal([]byte(text), &text)
				text = strings.TrimSpace(text)
			}
			exact, ok := new(big.Rat).SetString(text)
			if !ok || !p.IsPositive() || p.Rat().Cmp(exact) != 0 {
				t.Fatalf("parsePrice(%s) = %s, not the positive value of %q", s, p, text)
			}
			if _, err := rates.CoinUnits(p, p); err != nil {
				t.Fatalf("price %s cannot be converted: %v", p, err)
			}
		}
		if exp, err := parseExpiration(json.RawMessage(s)); err != nil {
			checkRefusal(t, "expirationTime", s, err)
		} else if !exp.IsZero() && (exp.Before(time.Unix(0, 0)) || exp.After(maxTime)) {
			// Out of range times are refused by CreateInvoice's window;
			// the parse must still not wrap around.
			if exp.UnixMilli() <= 0 {
				t.Fatalf("parseExpiration(%s) = %s", s, exp)
			}
		}
		for _, end := range []bool{false, true} {
			d, err := parseDate("dateEnd", s, end)
			if err != nil {
				checkRefusal(t, "dateEnd", s, err)
			} else if d.After(maxTime) {
				t.Fatalf("parseDate(%q) = %s, after the year 9999", s, d)
			}
		}
		if validCode(s) && (len(s) != CodeLength || strings.Trim(s, base58Alphabet) != "") {
			t.Fatalf("validCode accepted %q", s)
		}
	})
}

// FuzzCreateInvoice posts signed invoice bodies to the BitPay API on a real
// database: each answer is 200 with an invoice that reads back, or a 4xx
// in BitPay's error shape (or 503 for a currency without a rate). Never
// another 5xx, and a refused body stores nothing.
func FuzzCreateInvoice(f *testing.F) {
	for _, s := range []string{
		`"price":"0.1","currency":"LTC"`, `"price":"0.1","currency":"LTC","orderId":"\ud800"`, "\"price\":\"0.1\",\"currency\":\"LTC\",\"itemDesc\":\"\xff\"", `"price":12.5,"currency":"USD","orderId":123,"posData":{"a":[1]}`,
		`"price":"0.1","currency":"LTC","orderId":"a\u0000b"`, `"price":1e308,"currency":"LTC"`,
		`"price":"84000001","currency":"LTC"`, `"price":-1,"currency":"LTC"`, `"price":"NaN","currency":"LTC"`,
		`"price":1,"currency":"LTC","expirationTime":9223372036854775807`, `"price":1,"currency":"LTC","expirationTime":"1e3"`,
		`"price":1,"currency":"LTC","notificationURL":"http://2130706433/"`, `"price":1,"currency":"LTC","redirectURL":"javascript:x"`,
		`"price":1,"currency":"LTC","paymentCurrencies":["DOGE"]`, `"price":1,"currency":"LTC","fullNotifications":"yes"`,
		`"price":1,"currency":"XXXX"`, `"price":1,"currency":"\ud800"`, `"price":1,"currency":"LTC","itemDesc":"` + strings.Repeat("x", 5000) + `"`,
		`"price":1,"currency":"LTC","transactionSpeed":"warp"`, `"price":[1]`, `"price":{"x":1}`, `}`, ``,
	} {
		f.Add(s)
	}
	pool := pgtest.NewPool(f)
	pay := payments.NewService(pool, payments.Config{Coins: []payments.Coin{{Code: "LTC", Node: &regtest.AddressOnly{},
		Confirmations: 3, URIScheme: "litecoin"}}})
	usd := rates.New(rates.Config{Static: rates.Table{{Base: "LTC", Quote: "USD"}: decimal.RequireFromString("80")}})
	s := newServerOn(f, pool, pay, usd)
	count := func() (n int) {
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil {
			f.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, fields string) {
		s.t = t
		// A request that hangs takes the process down, so that the fuzzer
		// reports the input instead of stalling on it.
		hang := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("POST /invoices hung on %q", fields)) })
		defer hang.Stop()
		before := count()
		status, body := s.call("POST", "/invoices", `{"token":"`+s.tok+`",`+fields+`}`, "")
		switch {
		case status == http.StatusOK:
			if !utf8.Valid([]byte(fields)) || payments.LoneSurrogate([]byte(fields)) {
				t.Fatalf("%q is not UTF-8 but was accepted: its text is not stored as sent", fields)
			}
			var out struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || out.Data.ID == "" {
				t.Fatalf("200 without an invoice: %s", body)
			}
			if st, got := s.call("GET", "/invoices/"+out.Data.ID+"?token="+s.tok, "", ""); st != 200 {
				t.Fatalf("the invoice created from %s does not read back: %d %s", fields, st, got)
			}
		case status >= 400 && status < 500,
			// A known currency without a rate here is the server's to fix.
			status == http.StatusServiceUnavailable && strings.Contains(body, "rate unavailable"):
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || len(e.Errors) != 1 {
				t.Fatalf("%d without BitPay's error shape: %s", status, body)
			}
			if after := count(); after != before {
				t.Fatalf("a refused invoice (%d %s) stored %d payments", status, body, after-before)
			}
		default:
			t.Fatalf("%s: %d %s, want 200, a 4xx or 503 for a missing rate", fields, status, body)
		}
	})
}
