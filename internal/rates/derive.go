package rates

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// divisionPlaces is the number of decimal places kept when a rate needs a
// division (an inverse, or a derivation through an inverse): the one inexact
// step of a lookup, done once at the end.
const divisionPlaces = 20

// ratio is a rate kept exact as num / den until it is needed.
type ratio struct {
	num, den decimal.Decimal
	at       time.Time
	source   string
}

// direct returns the rate of p from the table itself or from its inverse.
func direct(eff map[Pair]Quote, p Pair) (ratio, bool) {
	one := decimal.NewFromInt(1)
	if q, ok := eff[p]; ok {
		return ratio{num: q.Rate, den: one, at: q.At, source: q.Source}, true
	}
	inv, ok := eff[Pair{Base: p.Quote, Quote: p.Base}]
	if !ok || !inv.Rate.IsPositive() {
		return ratio{}, false
	}
	return ratio{num: one, den: inv.Rate, at: inv.At, source: inv.Source}, true
}

// quote turns r into the Quote of p, dividing once if it must.
func (r ratio) quote(p Pair) Quote {
	rate := r.num
	if !r.den.Equal(decimal.NewFromInt(1)) {
		rate = r.num.DivRound(r.den, divisionPlaces)
	}
	return Quote{Pair: p, Rate: rate, At: r.at, Source: r.source, num: r.num, den: r.den}
}

// lookup returns the rate of p: direct, or derived through one common
// currency C as p.Base_C × C_p.Quote. Among several possible C it takes the
// one whose older part is the newest (ties: C in alphabetical order), so the
// result does not depend on map order.
func lookup(eff map[Pair]Quote, p Pair) (Quote, bool) {
	if r, ok := direct(eff, p); ok {
		return r.quote(p), true
	}
	codes := map[string]bool{}
	for k := range eff {
		codes[k.Base], codes[k.Quote] = true, true
	}
	var via []string
	for c := range codes {
		if c != p.Base && c != p.Quote {
			via = append(via, c)
		}
	}
	sort.Strings(via)
	var (
		best  ratio
		found bool
	)
	for _, c := range via {
		a, ok := direct(eff, Pair{Base: p.Base, Quote: c})
		if !ok {
			continue
		}
		b, ok := direct(eff, Pair{Base: c, Quote: p.Quote})
		if !ok {
			continue
		}
		r := ratio{num: a.num.Mul(b.num), den: a.den.Mul(b.den), at: a.at, source: a.source}
		if b.at.Before(r.at) {
			r.at = b.at
		}
		if b.source != a.source {
			r.source = a.source + "+" + b.source
		}
		if !found || r.at.After(best.at) {
			best, found = r, true
		}
	}
	if !found {
		return Quote{}, false
	}
	return best.quote(p), true
}
