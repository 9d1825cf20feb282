package amqpapi

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
)

// Command types, the type property of a command.
const (
	CommandCreate = "payments.create"
	CommandGet    = "payments.get"
)

// Reply headers.
const (
	// StatusHeader carries the HTTP status the HTTP API would answer.
	StatusHeader = "status"
	// ReplayedHeader is true on the reply to a create whose message_id
	// already made a payment.
	ReplayedHeader = "idempotent_replayed"
)

const (
	// commandTimeout bounds answering one command, as the HTTP API bounds
	// a request.
	commandTimeout = 30 * time.Second
	// requeueDelay slows a command whose reply could not be confirmed on
	// its way back to the queue, so that a broker refusing replies does
	// not make a busy loop.
	requeueDelay = time.Second
)

// getRequest is the body of payments.get.
type getRequest struct {
	ID string `json:"id"`
}

// handle answers one command: reply (when it names reply_to), wait for the
// reply's confirmation, then acknowledge. A reply that is not confirmed
// sends the command back to the queue.
func (c *Client) handle(s *session, d amqp.Delivery) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	typ := d.Type
	if typ != CommandCreate && typ != CommandGet {
		typ = "unknown"
	}
	status, body, replayed := c.answer(ctx, d)
	outcome := strconv.Itoa(status)
	attrs := []any{"type", d.Type, "message_id", d.MessageId, "correlation_id", d.CorrelationId,
		"reply_to", d.ReplyTo, "redelivered", d.Redelivered}
	if d.ReplyTo != "" {
		headers := amqp.Table{StatusHeader: int32(status)}
		if replayed {
			headers[ReplayedHeader] = true
		}
		err := s.publish(ctx, "reply", "", d.ReplyTo, amqp.Publishing{
			ContentType:   "application/json",
			DeliveryMode:  amqp.Persistent,
			CorrelationId: d.CorrelationId,
			MessageId:     uuid.NewString(),
			Timestamp:     time.Now(),
			AppId:         AppID,
			Headers:       headers,
			Body:          body,
		})
		if err != nil {
			c.observeCommand(typ, "requeued")
			c.log.Warn("AMQP command answered but its reply not confirmed; it goes back to the queue",
				append(attrs, "status", status, "err", c.scrub(err))...)
			select {
			case <-s.stop:
			case <-time.After(requeueDelay):
			}
			_ = d.Nack(false, true)
			return
		}
	}
	if err := d.Ack(false); err != nil {
		// The broker delivers it again; a create answers the same.
		c.log.Warn("AMQP command answered but not acknowledged; it will be delivered again",
			append(attrs, "status", status, "err", c.scrub(err))...)
	}
	c.observeCommand(typ, outcome)
	c.log.Info("AMQP command", append(attrs, "status", status, "duration_ms", time.Since(start).Milliseconds())...)
}

func (c *Client) observeCommand(typ, outcome string) {
	if c.cfg.OnCommand != nil {
		c.cfg.OnCommand(typ, outcome)
	}
}

// answer runs a command and returns the status and body the HTTP API would
// answer, and whether a create returned an earlier payment.
func (c *Client) answer(ctx context.Context, d amqp.Delivery) (int, []byte, bool) {
	status, v, replayed, err := c.run(ctx, d)
	if err != nil {
		e := apiwire.Classify(err)
		msg := e.Message
		if e.Status >= 500 {
			c.log.Error("AMQP command failed", "type", d.Type, "correlation_id", d.CorrelationId,
				"status", e.Status, "err", c.scrub(err))
			if e.Status == http.StatusInternalServerError {
				msg = "internal error; quote correlation id " + strconv.Quote(d.CorrelationId) + " when reporting it"
			}
		}
		status, v = e.Status, e.Body(msg)
	}
	body, err := apiwire.Encode(v)
	if err != nil {
		return http.StatusInternalServerError, []byte(apiwire.InternalErrorBody + "\n"), false
	}
	return status, body, replayed
}

// run decodes and runs a command.
func (c *Client) run(ctx context.Context, d amqp.Delivery) (int, any, bool, error) {
	if d.ContentType != "" {
		mt, _, err := mime.ParseMediaType(d.ContentType)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return 0, nil, false, &apiwire.Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "send the body as JSON, with content_type application/json or none"}
		}
	}
	switch d.Type {
	case CommandCreate:
		if d.MessageId == "" {
			return 0, nil, false, apiwire.BadRequest("message_id_required", "message_id",
				"a payments.create command needs a message_id, unique per payment: a command delivered twice then makes one payment")
		}
		if !payments.ValidIdempotencyKey(d.MessageId) {
			return 0, nil, false, apiwire.BadRequest("invalid_message_id", "message_id",
				"message_id must be 1 to 255 bytes of printable text, e.g. a UUID")
		}
		var body apiwire.CreatePaymentRequest
		if err := apiwire.DecodeBytes(d.Body, &body); err != nil {
			return 0, nil, false, err
		}
		req, err := body.CreateRequest()
		if err != nil {
			return 0, nil, false, err
		}
		p, created, err := c.cfg.Payments.CreateOnce(ctx, payments.IdempotencyKey{Scope: payments.ScopeAMQP, Key: d.MessageId}, req)
		if err != nil {
			return 0, nil, false, err
		}
		return http.StatusCreated, apiwire.NewPaymentResponse(p), !created, nil
	case CommandGet:
		var body getRequest
		if err := apiwire.DecodeBytes(d.Body, &body); err != nil {
			return 0, nil, false, err
		}
		id, err := apiwire.ParseID(body.ID)
		if err != nil {
			return 0, nil, false, err
		}
		p, err := c.cfg.Payments.Get(ctx, id)
		if err != nil {
			return 0, nil, false, err
		}
		return http.StatusOK, apiwire.NewPaymentResponse(p), false, nil
	default:
		return 0, nil, false, apiwire.BadRequest("unknown_command", "type",
			"the type property must be "+CommandCreate+" or "+CommandGet+", not "+strconv.Quote(d.Type))
	}
}
