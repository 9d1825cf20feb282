// Package bitpay is Transient's BitPay-compatible invoice API, the adapter
// that lets shops using btcpay-python or another BitPay client talk to
// Transient unchanged. It owns pairing (pairing codes, tokens stored hashed,
// SINs), the verification of signed requests, the BitPay wire format of
// invoices, rates and errors, and the BitPay IPNs. An invoice is a payment:
// this package stores only the BitPay-specific fields beside it and leaves
// statuses, detection and delivery to packages payments and webhook.
package bitpay
