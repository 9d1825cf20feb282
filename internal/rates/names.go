package rates

// currencyNames are the display names GET /rates shows; a code missing here
// is shown as its own name.
var currencyNames = map[string]string{
	"AUD": "Australian Dollar", "BRL": "Brazilian Real", "CAD": "Canadian Dollar",
	"CHF": "Swiss Franc", "CNY": "Chinese Yuan", "CZK": "Czech Koruna", "DKK": "Danish Krone",
	"EUR": "Euro", "GBP": "British Pound", "HKD": "Hong Kong Dollar", "HUF": "Hungarian Forint",
	"INR": "Indian Rupee", "JPY": "Japanese Yen", "KRW": "South Korean Won", "MXN": "Mexican Peso",
	"NOK": "Norwegian Krone", "NZD": "New Zealand Dollar", "PLN": "Polish Zloty",
	"RUB": "Russian Ruble", "SEK": "Swedish Krona", "SGD": "Singapore Dollar",
	"TRY": "Turkish Lira", "USD": "US Dollar", "ZAR": "South African Rand",
	"BTC": "Bitcoin", "LTC": "Litecoin", "DOGE": "Dogecoin",
}

// Name returns the display name of a currency or coin code ("US Dollar" for
// USD), or the code itself when it has none.
func Name(code string) string {
	if n, ok := currencyNames[code]; ok {
		return n
	}
	return code
}
