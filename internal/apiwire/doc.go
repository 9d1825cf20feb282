// Package apiwire is the wire format of Transient's payment API, shared by
// the interfaces that speak it: the HTTP API (package api) and the AMQP
// commands (package amqpapi). It decodes and checks the create request,
// encodes the answers, and holds the one table that maps errors to a
// status, a code and a message, so that both interfaces answer the same
// request with the same bytes.
package apiwire
