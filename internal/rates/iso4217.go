package rates

import "strings"

// iso4217 lists the active ISO 4217 currency codes (and the precious metal
// and special drawing right codes), so that a price in an unknown code can
// be told apart from a known currency whose rate is missing.
var iso4217 = func() map[string]bool {
	const codes = `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
VUV WST XAF XAG XAU XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL`
	m := make(map[string]bool, 180)
	for _, c := range strings.Fields(codes) {
		m[c] = true
	}
	return m
}()

// KnownCurrency reports whether code is an ISO 4217 currency code or a coin
// this package names (BTC, LTC, DOGE).
func KnownCurrency(code string) bool {
	return iso4217[code] || code == "BTC" || code == "LTC" || code == "DOGE"
}
