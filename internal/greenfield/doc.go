// Package greenfield is a drop-in server for the invoice and webhook parts
// of BTCPay Server's Greenfield API (v1), so that shop plugins built on
// btcpayserver-greenfield-php (WooCommerce and others) work with Transient
// unchanged: the shop gives its plugin Transient's URL, an API key and a
// store id.
//
// It owns its own tables (greenfield_stores, greenfield_api_keys,
// greenfield_invoices and, in webhook*.go, the webhooks) and maps
// Greenfield's wire format onto package payments: a Greenfield invoice is
// a payment plus a greenfield_invoices row written in the same
// transaction, and its status is computed from the payment's (see
// InvoiceStatus); there is no second state machine.
//
// The PHP library types every response field strictly, so the JSON shapes
// here are exact: decimals are JSON strings, times are integer Unix
// seconds, and errors are 422 with [{path, message}] for validation and
// {code, message} otherwise.
package greenfield
