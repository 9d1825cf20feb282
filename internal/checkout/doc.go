// Package checkout owns the hosted checkout page a shop sends its buyer to:
// GET /payments/{id}/checkout, a server-rendered page with every asset
// embedded, and GET /payments/{id}/stream, the Server-Sent Events that keep
// it live.
//
// The stream is fed by the same events as the webhooks: a Hub in every
// transientd process LISTENs on payments.EventsChannel over one dedicated
// connection and also polls each watched payment, so a change committed by
// any process reaches every open page, and nothing is lost while the
// listener reconnects. Each message carries the payment object of the HTTP
// API, with the sequence of the payment's last event as its id; a browser
// that reconnects with Last-Event-ID gets the events it missed.
package checkout
