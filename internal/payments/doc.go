// Package payments is Transient's domain: what a payment is, how its status
// follows the chain, and the service that creates payments and records what
// the coin node reports about them.
//
// Money is always an Amount: integer base units (1 coin = 100,000,000), parsed
// and printed exactly. The status of a payment is computed by one pure
// function, Decide, from the chain facts, the payment's terms and the time;
// everything else in this package stores those facts and decisions in
// PostgreSQL so that a status change and the event announcing it are written
// in one transaction.
package payments
