// Package amqpapi is Transient's AMQP API on RabbitMQ: it publishes every
// payment event to a topic exchange and answers payment commands (create,
// get) consumed from a queue, with the same bodies as the HTTP API.
//
// # Events out
//
// Every payment event goes through the webhook outbox as a delivery of kind
// "amqp": the delivery row and its River job are written in the transaction
// that records the event, and the Client's Transport publishes it. A message
// counts as sent only when the broker confirms it (publisher confirms); a
// broker that is down, a connection cut mid-publish or a process killed
// before the confirmation leaves the delivery pending, and it is published
// again. Consumers therefore see each event at least once and deduplicate
// on message_id (the event id).
//
// The routing key is "<type>.<coin>.<status>" in lower case, e.g.
// "payment.status_changed.doge.paid"; the body is the webhook body, byte for
// byte; the properties are content_type application/json, persistent
// delivery, message_id the event id, type the event type, timestamp the
// event's time and app_id "transient". Messages are published mandatory: a
// message no queue is bound for is returned by the broker, counted and
// logged, and counts as delivered, because the broker has done what its
// bindings ask (an exchange with an alternate-exchange policy keeps them).
//
// # Commands in
//
// With commands on, the Client consumes a durable queue. A command's type
// property names it (payments.create, payments.get) and its body is the HTTP
// request's JSON. The reply goes to the command's reply_to queue through the
// default exchange, with the command's correlation_id, the HTTP API's answer
// as body and its status in the header "status". A create is idempotent on
// the command's message_id (required), shared with the HTTP API's
// Idempotency-Key store under its own scope. A command is acknowledged only
// once its reply is confirmed by the broker, so a connection lost between
// the two redelivers the command, which then answers the same. A malformed
// command gets an error reply (when it names reply_to) and is acknowledged:
// nothing is requeued for ever. Whoever may publish to the queue may create
// payments: the broker's permissions are the boundary.
//
// # Connection
//
// Run keeps one connection with two channels (publishing in confirm mode,
// consuming) and, when the connection or either channel drops, connects
// again with backoff, declares the exchange and the queue again and resumes
// consuming. The URL's password never appears in a log line or an error:
// every error leaving the package is scrubbed of it.
package amqpapi
