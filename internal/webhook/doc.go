// Package webhook owns Transient's webhook outbox and dispatcher: it turns
// each payment event into durable deliveries, sends them, signs them, retries
// them on a schedule and keeps the delivery log that merchants read.
//
// # Guarantees for a receiver
//
// Delivery is at least once. An event is enqueued in the same database
// transaction that records the status change it announces, so it is
// delivered if and only if that change is committed; a crash or restart can
// delay a delivery but not lose it. The same event can arrive more than once
// (a retry after a timeout whose request did reach the receiver, or a manual
// redelivery): deduplicate on the X-Transient-Event-Id header (the event_id in
// the body). Deliveries are not ordered; use the body's sequence number to
// discard an event older than one already processed.
//
// Every request is a POST with the event's JSON body, byte for byte as it was
// stored, and these headers:
//
//	Content-Type: application/json
//	User-Agent: Transient-Webhook/1 (or the configured value)
//	X-Transient-Event-Id: <event uuid>, the same on every delivery of the event
//	X-Transient-Delivery-Id: <delivery uuid>, new for each redelivery
//	X-Transient-Attempt: <1, 2, ...>, the attempt number of this delivery
//	X-Transient-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The signature header is present when a secret is configured. v1 is the
// lower-case hex HMAC-SHA256, keyed with the secret, of the timestamp in
// decimal, a full stop and the raw body: "<t>.<body>". The timestamp is the
// time of the attempt, so a retry carries a fresh one. A header may carry
// several v1 values (while a secret is being rotated); one matching value is
// enough. Verify does all of this, including the timestamp tolerance.
//
// A 2xx answer means delivered. A network error, a timeout (10 s by default),
// 408, 429 or any 5xx answer is retried after roughly 10 s, 1 min, 5 min and
// 30 min, then hourly (each delay ±20% at random), and never sooner than a
// 429 or 503 answer's Retry-After asks (capped at an hour). Retries stop when
// the next one would fall more than the maximum age (72 h by default) after
// the event: the delivery is then dead. Any other answer (3xx, since
// redirects are not followed, and 4xx such as 404 or 410) fails the delivery
// at once without retry.
//
// # How it works
//
// Outbox.Enqueue writes one webhook_deliveries row per destination and
// inserts a River job per row in the caller's transaction. The delivery
// worker claims an attempt number in the database before each request, so
// several transientd processes working one queue never make the same attempt
// twice, and records every attempt in webhook_attempts. Scheduling, claiming
// (FOR UPDATE SKIP LOCKED) and the rescue of jobs whose process died are
// River's. Nothing in the delivery path lives only in memory.
//
// The outbox POSTs webhooks and BitPay IPNs itself. Other kinds of
// destination (a message broker, for example) are delivered by a Transport
// that an adapter package registers with Outbox.AddTransport; their
// deliveries are rows of the same table with their own kind, retried,
// logged, redelivered and pruned like the rest.
//
// Per-payment destinations (a payment's callback URL, BitPay IPN URLs) are
// chosen by the shop's customers' requests, not the operator, so connections
// to loopback, private, link-local and other non-public addresses are refused
// at connect time, after DNS resolution, unless Config.AllowPrivate is set.
// The operator-configured global URL is trusted.
package webhook
