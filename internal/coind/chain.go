package coind

import "time"

// BlockInterval returns the target time between two blocks of the coin
// (Bitcoin 10 minutes, Litecoin 2.5 minutes, Dogecoin 1 minute), and 0 for
// a coin whose interval is not known here. It is what the chain aims at, not
// a bound: real intervals vary around it.
func BlockInterval(code string) time.Duration {
	switch code {
	case "BTC":
		return 10 * time.Minute
	case "LTC":
		return 150 * time.Second
	case "DOGE":
		return time.Minute
	default:
		return 0
	}
}

// ConfirmationTime returns the expected time for a transaction to reach n
// confirmations on the coin, counted from its first block: (n − 1) block
// intervals after it is mined, plus the wait for that first block, one
// interval. So n × BlockInterval; 0 when the interval is unknown.
func ConfirmationTime(code string, n int64) time.Duration {
	return time.Duration(n) * BlockInterval(code)
}
