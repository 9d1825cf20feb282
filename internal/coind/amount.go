package coind

import (
	"errors"
	"strconv"
)

// CoinUnits is the number of base units in one coin (satoshis per bitcoin,
// litoshis per litecoin, koinu per dogecoin).
const CoinUnits = 100_000_000

// amountDecimals is the number of decimals a coin amount may carry.
const amountDecimals = 8

// ParseAmount converts an exact decimal coin amount, as the node prints it
// ("12345.67890000", "-0.00000001"), into base units.
//
// The accepted grammar is: an optional leading '-', one or more digits, and
// optionally a '.' followed by one to eight digits. Leading zeros are allowed
// ("007" is 7 coins). Rejected with an error: the empty string, spaces, a
// leading '+', exponents ("1e3"), more than eight decimals, a '.' without
// digits on both sides (".5" and "5." are refused, as the JSON number grammar
// refuses them and no node prints them), and values outside int64 base units.
// The conversion never goes through float64.
func ParseAmount(s string) (int64, error) {
	return parseAmount(s)
}

// parseAmount implements ParseAmount for both strings and the raw bytes of a
// JSON number, so decoding a response needs no string allocation.
func parseAmount[T string | []byte](s T) (int64, error) {
	if len(s) == 0 {
		return 0, errors.New("coind: parse amount: empty")
	}
	i := 0
	neg := s[0] == '-'
	if neg {
		i++
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit = 1 << 63
	}
	var mag uint64
	intDigits, fracDigits := 0, 0
	sawDot := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if sawDot {
				fracDigits++
				if fracDigits > amountDecimals {
					return 0, amountError(s, "more than 8 decimals")
				}
			} else {
				intDigits++
			}
			d := uint64(c - '0')
			if mag > (limit-d)/10 {
				return 0, amountError(s, "out of range")
			}
			mag = mag*10 + d
		case c == '.' && !sawDot:
			sawDot = true
		default:
			return 0, amountError(s, "not a decimal number")
		}
	}
	if intDigits == 0 || (sawDot && fracDigits == 0) {
		return 0, amountError(s, "not a decimal number")
	}
	for ; fracDigits < amountDecimals; fracDigits++ {
		if mag > limit/10 {
			return 0, amountError(s, "out of range")
		}
		mag *= 10
	}
	if neg {
		// Two's complement negation also covers mag == 1<<63 (math.MinInt64).
		return int64(-mag), nil
	}
	return int64(mag), nil
}

// amountError builds a ParseAmount error quoting (a bounded prefix of) the
// input.
func amountError[T string | []byte](s T, why string) error {
	const maxQuoted = 40
	q := string(s)
	if len(q) > maxQuoted {
		q = q[:maxQuoted] + "…"
	}
	return errors.New("coind: parse amount " + strconv.Quote(q) + ": " + why)
}

// FormatAmount prints base units as the shortest exact decimal coin amount:
// 1050000000 → "10.5", 1 → "0.00000001", 0 → "0", -150000000 → "-1.5".
// Every int64, including math.MinInt64, is printed exactly, and
// ParseAmount(FormatAmount(v)) == v.
func FormatAmount(v int64) string {
	var buf [24]byte
	return string(appendAmount(buf[:0], v))
}

// AppendAmount appends FormatAmount(v) to b, for encoders that build their
// output without allocating a string per amount.
func AppendAmount(b []byte, v int64) []byte { return appendAmount(b, v) }

// appendAmount appends FormatAmount(v) to b.
func appendAmount(b []byte, v int64) []byte {
	mag := uint64(v)
	if v < 0 {
		b = append(b, '-')
		mag = -mag
	}
	b = strconv.AppendUint(b, mag/CoinUnits, 10)
	frac := mag % CoinUnits
	if frac == 0 {
		return b
	}
	var digits [amountDecimals]byte
	n := amountDecimals
	for i := amountDecimals - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}
