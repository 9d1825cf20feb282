package rates

import (
	"errors"
	"math"

	"github.com/shopspring/decimal"
)

// UnitsPerCoin is the number of base units in one coin (1 coin =
// 100,000,000 units), the precision coin amounts are rounded to.
const UnitsPerCoin = 100_000_000

// ErrAmountRange means a converted amount is zero or does not fit in
// int64 base units.
var ErrAmountRange = errors.New("rates: converted amount out of range")

// CoinUnits converts price, in the rate's quote currency, into base units of
// the rate's base coin: price / rate coins, rounded up to a whole base unit.
// This is the one rounding of a conversion, and it is exact: the division is
// done on integers, so 10 USD at 3 USD per coin is 333,333,334 units, never
// a unit less. price and rate must be greater than zero.
func CoinUnits(price, rate decimal.Decimal) (int64, error) {
	return coinUnits(price, rate, decimal.NewFromInt(1))
}

// CoinUnits converts price into base units at q's rate as CoinUnits does,
// but for a rate that needed a division (an inverse, 1 / USD_DOGE) it
// divides by the exact fraction, not by its 20-place rounding, which could
// ask for a unit more: 1 USD at 1/3 USD per coin is 300,000,000 units.
func (q Quote) CoinUnits(price decimal.Decimal) (int64, error) {
	if q.den.IsPositive() && q.num.IsPositive() {
		return coinUnits(price, q.num, q.den)
	}
	return CoinUnits(price, q.Rate)
}

// coinUnits is price / (num / den) coins in base units, rounded up once.
func coinUnits(price, num, den decimal.Decimal) (int64, error) {
	if !price.IsPositive() || !num.IsPositive() || !den.IsPositive() {
		return 0, errors.New("rates: price and rate must be greater than zero")
	}
	// price × 10^8 × den / num, as an integer quotient and an exact remainder.
	q, r := price.Shift(8).Mul(den).QuoRem(num, 0)
	if r.Sign() != 0 {
		q = q.Add(decimal.NewFromInt(1))
	}
	if q.Sign() <= 0 || q.Cmp(decimal.NewFromInt(math.MaxInt64)) > 0 {
		return 0, ErrAmountRange
	}
	return q.IntPart(), nil
}
