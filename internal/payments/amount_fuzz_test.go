package payments

import (
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

// amountSeeds are amounts a shop sends, and the forms around the edges of
// the grammar: exponents, signs, spaces, overflow, too many decimals.
var amountSeeds = []string{
	"10.5", "0.00000001", "1", "21000000", "10000000000", "10000000000.00000001", "0.000000010", "1.10000000000",
	"0", "-1", "1e3", "1E-8", ".5", "5.", " 1", "1 ", "+1", "0x10", "1_000", "١", "92233720368.54775807",
	"92233720368.54775808", "99999999999999999999", "1e308", "NaN", "Infinity", "", ".", "00.1", "1.2.3",
}

// checkAmountError checks that a refused amount is the typed 400 the API
// answers: an *Error with code invalid_amount naming the amount field.
func checkAmountError(t *testing.T, in string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidAmount || e.Field != "amount" || e.Message == "" {
		t.Fatalf("refusal of %q is %#v (%v), want an *Error with code %s on field amount", in, err, err, CodeInvalidAmount)
	}
}

// FuzzParseAmount: an accepted amount is greater than zero and at most
// MaxAmount, equals the decimal value of the text exactly, and survives
// printing and parsing again; every refusal is an invalid_amount *Error.
func FuzzParseAmount(f *testing.F) {
	for _, s := range amountSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			checkAmountError(t, s, err)
			return
		}
		if a <= 0 || a > MaxAmount {
			t.Fatalf("ParseAmount(%q) = %d, outside (0, MaxAmount]", s, a)
		}
		if strings.Trim(s, "0123456789.") != "" {
			t.Fatalf("ParseAmount(%q) accepted a character other than digits and a dot", s)
		}
		exact, ok := new(big.Rat).SetString(s)
		if !ok || exact.Cmp(new(big.Rat).SetFrac64(int64(a), UnitsPerCoin)) != 0 {
			t.Fatalf("ParseAmount(%q) = %d base units, not the text's value %v", s, a, exact)
		}
		back, err := ParseAmount(a.String())
		if err != nil || back != a {
			t.Fatalf("ParseAmount(%q) = %d, %v after printing %d as %q", a.String(), back, err, a, a.String())
		}
	})
}

// FuzzParseAmountJSON: a JSON string amount is read as ParseAmount reads
// its text, a JSON number as ParseAmount reads the number's text; any other
// value is refused with an invalid_amount *Error.
func FuzzParseAmountJSON(f *testing.F) {
	for _, s := range amountSeeds {
		f.Add(s)
		q, _ := json.Marshal(s)
		f.Add(string(q))
	}
	for _, s := range []string{"null", "true", "{}", "[1]", `"\u0031"`, `"1`, "-0", "1.0e1", "  2  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := ParseAmountJSON(json.RawMessage(raw))
		if err != nil {
			checkAmountError(t, raw, err)
		}
		// What the decoder hands over is a valid JSON value; compare with
		// the rules of ParseAmount for the value's kind.
		var v any
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			return // more after the value: not one JSON value
		}
		var want Amount
		var wantErr error
		switch x := v.(type) {
		case string:
			want, wantErr = ParseAmount(x)
		case json.Number:
			want, wantErr = ParseAmount(x.String())
		default:
			if err == nil {
				t.Fatalf("ParseAmountJSON(%s) accepted a JSON %T", raw, v)
			}
			return
		}
		if (err == nil) != (wantErr == nil) || a != want {
			t.Fatalf("ParseAmountJSON(%s) = %d, %v; ParseAmount of its value = %d, %v", raw, a, err, want, wantErr)
		}
	})
}
