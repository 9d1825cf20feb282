package payments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/transient-gateway/transient/internal/coind"
)

// Amount is a quantity of coin in integer base units: 1 coin is 100,000,000
// units, the smallest unit is 0.00000001. It never passes through float64.
type Amount int64

// UnitsPerCoin is the number of base units in one coin.
const UnitsPerCoin = 100_000_000

// MaxAmount is the largest amount a payment may ask for: ten billion coins.
// It keeps sums of several outputs far from int64 overflow.
const MaxAmount Amount = 10_000_000_000 * UnitsPerCoin

// String returns the exact decimal text of a in coins, without trailing
// zeros: 10.5, 0.00000001, 0.
func (a Amount) String() string { return coind.FormatAmount(int64(a)) }

// MarshalJSON prints a as a JSON number with its exact decimal text.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// moreThan8Decimals says why an amount with a ninth decimal digit is
// refused: the coins' smallest unit is 0.00000001.
const moreThan8Decimals = "amount has more than 8 decimal places; the coin has 8 decimals (its smallest unit is 0.00000001)"

// ParseAmount parses a payment amount given in coin units, as a person or a
// shop would type it: plain decimal digits with at most 8 decimal places
// (trailing zeros beyond the eighth are accepted, since they change nothing).
// The result must be greater than zero and at most MaxAmount. The returned
// error is an *Error with code invalid_amount and a message saying what is
// wrong.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, invalidAmount("amount is empty")
	}
	if strings.ContainsAny(s, "eE") {
		return 0, invalidAmount("amount must be a plain decimal number such as 10.5, without an exponent")
	}
	if strings.TrimSpace(s) != s {
		return 0, invalidAmount("amount must not contain spaces")
	}
	if s[0] == '-' {
		return 0, invalidAmount("amount must be greater than 0")
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > 8 {
		trimmed := strings.TrimRight(s, "0")
		if len(trimmed)-i-1 > 8 {
			return 0, invalidAmount(moreThan8Decimals)
		}
		// "10.000000000" trims to "10.", which is 10 exactly.
		s = strings.TrimSuffix(trimmed, ".")
	}
	v, err := coind.ParseAmount(s)
	if err != nil {
		if isDecimalText(s) {
			return 0, invalidAmount(fmt.Sprintf("amount must be at most %s", MaxAmount))
		}
		return 0, invalidAmount("amount must be a decimal number such as 10.5")
	}
	switch a := Amount(v); {
	case a <= 0:
		return 0, invalidAmount("amount must be greater than 0")
	case a > MaxAmount:
		return 0, invalidAmount(fmt.Sprintf("amount must be at most %s", MaxAmount))
	default:
		return a, nil
	}
}

// ParseAmountJSON parses a payment amount from a raw JSON value that is either
// a number (10.5) or a string ("10.5"), with the rules of ParseAmount.
func ParseAmountJSON(raw json.RawMessage) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return 0, &Error{Code: CodeInvalidAmount, Field: "amount", Message: "amount is required"}
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, invalidAmount("amount must be a number or a string holding a decimal number")
		}
		return ParseAmount(s)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return ParseAmount(string(raw))
	default:
		return 0, invalidAmount("amount must be a number or a string holding a decimal number")
	}
}

// isDecimalText reports whether s is digits with at most one dot, so that a
// parse failure on it can only mean the value is too large.
func isDecimalText(s string) bool {
	dots, digits := 0, 0
	for _, c := range s {
		switch {
		case c == '.':
			dots++
		case c >= '0' && c <= '9':
			digits++
		default:
			return false
		}
	}
	return dots <= 1 && digits > 0 && s[0] != '.' && s[len(s)-1] != '.'
}

func invalidAmount(msg string) error {
	return &Error{Code: CodeInvalidAmount, Field: "amount", Message: msg}
}
