package amqpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one connection to the broker with its channels. When any of
// them closes, Run ends the session and starts another.
type session struct {
	c    *Client
	conn *amqp.Connection
	// pub publishes events and replies, in confirm mode.
	pub *amqp.Channel
	// cons consumes commands; nil with commands off.
	cons *amqp.Channel
	tag  string

	mu       sync.Mutex
	declared map[string]bool // exchanges declared on pub

	closed, pubClosed, consClosed chan *amqp.Error
	consumerDone                  chan struct{}

	// stopMu orders closing stop against starting a handler, so that no
	// handler starts once close waits for them.
	stopMu   sync.Mutex
	stop     chan struct{} // closed when the session ends
	handlers sync.WaitGroup
}

// open opens the channels, declares the exchange and the command queue and
// starts consuming.
func (s *session) open() error {
	cfg := s.c.cfg
	s.conn.NotifyClose(s.closed)
	pub, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("open the publishing channel: %w", err)
	}
	s.pub = pub
	if err := pub.Confirm(false); err != nil {
		return fmt.Errorf("turn on publisher confirms: %w", err)
	}
	s.pubClosed = pub.NotifyClose(make(chan *amqp.Error, 1))
	go s.watchReturns(pub.NotifyReturn(make(chan amqp.Return, 64)))
	if err := s.declare(cfg.Exchange); err != nil {
		return err
	}
	if !cfg.Commands {
		return nil
	}
	cons, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("open the consuming channel: %w", err)
	}
	s.cons = cons
	s.consClosed = cons.NotifyClose(make(chan *amqp.Error, 1))
	if err := cons.Qos(cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("set the prefetch: %w", err)
	}
	if _, err := cons.QueueDeclare(cfg.CommandQueue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare the command queue %s: %w", cfg.CommandQueue, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.tag = "transientd-" + hex.EncodeToString(b)
	deliveries, err := cons.Consume(cfg.CommandQueue, s.tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume the command queue %s: %w", cfg.CommandQueue, err)
	}
	s.consumerDone = make(chan struct{})
	go s.consume(deliveries)
	return nil
}

// declare declares exchange as a durable topic exchange, once per session.
func (s *session) declare(exchange string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.declared[exchange] {
		return nil
	}
	if err := s.pub.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare the exchange %s (a durable topic exchange): %w", exchange, err)
	}
	s.declared[exchange] = true
	return nil
}

// wait blocks until ctx ends (nil) or the connection, a channel or the
// consumer ends (the cause).
func (s *session) wait(ctx context.Context) error {
	consumerDone := s.consumerDone
	if consumerDone == nil {
		consumerDone = make(chan struct{}) // never closed: commands are off
	}
	var cause *amqp.Error
	select {
	case <-ctx.Done():
		return nil
	case cause = <-s.closed:
	case cause = <-s.pubClosed:
	case cause = <-s.consClosed:
	case <-consumerDone:
		return s.c.scrub(errors.New("the broker cancelled the command consumer (was the queue deleted?)"))
	}
	if cause == nil {
		return errors.New("the connection closed")
	}
	return s.c.scrub(cause)
}

// close stops consuming, waits up to drain for the commands in hand to be
// answered, and closes the connection; commands not acknowledged go back to
// the queue.
func (s *session) close(drain time.Duration) {
	s.stopMu.Lock()
	close(s.stop)
	s.stopMu.Unlock()
	if s.cons != nil && !s.conn.IsClosed() {
		_ = s.cons.Cancel(s.tag, false)
	}
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		s.c.log.Warn("commands still in hand at shutdown go back to the queue")
	}
	_ = s.conn.Close()
}

// consume hands every command to a handler of its own; the prefetch bounds
// how many are in hand.
func (s *session) consume(deliveries <-chan amqp.Delivery) {
	defer close(s.consumerDone)
	for d := range deliveries {
		s.start(d)
	}
}

// start hands d to a handler unless the session is ending; a command not
// handled is not acknowledged, and the broker requeues it when the
// connection closes.
func (s *session) start(d amqp.Delivery) {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	select {
	case <-s.stop:
	default:
		s.handlers.Go(func() { s.c.handle(s, d) })
	}
}

// watchReturns counts and logs the messages the broker returned because no
// queue is bound for them.
func (s *session) watchReturns(returns <-chan amqp.Return) {
	for r := range returns {
		kind := "event"
		if r.Exchange == "" {
			kind = "reply"
		}
		s.c.observeMessage(kind, "returned")
		s.c.log.Info("the broker returned a message no queue is bound for", "kind", kind, "exchange", r.Exchange,
			"routing_key", r.RoutingKey, "message_id", r.MessageId, "correlation_id", r.CorrelationId, "reason", r.ReplyText)
	}
}

// publish publishes msg mandatory and waits for the broker's confirmation;
// exchange "" is the default exchange (replies). It returns nil only once
// the broker has confirmed the message.
func (s *session) publish(ctx context.Context, kind, exchange, key string, msg amqp.Publishing) error {
	if exchange != "" {
		if err := s.declare(exchange); err != nil {
			return err
		}
	}
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		s.c.observeMessage(kind, "failed")
		return fmt.Errorf("publish: %w", err)
	}
	s.c.observeMessage(kind, "published")
	acked, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		s.c.observeMessage(kind, "failed")
		return fmt.Errorf("no confirmation from the broker: %w", err)
	case !acked:
		s.c.observeMessage(kind, "failed")
		return errors.New("the broker did not confirm the message (refused, or the channel closed first)")
	}
	s.c.observeMessage(kind, "confirmed")
	return nil
}

// publish publishes through the current session; without one it fails at
// once with ErrNotConnected. Errors are scrubbed of the password.
func (c *Client) publish(ctx context.Context, kind, exchange, key string, msg amqp.Publishing) error {
	s := c.session.Load()
	if s == nil {
		c.observeMessage(kind, "failed")
		_, err := c.Check(ctx)
		return err
	}
	return c.scrub(s.publish(ctx, kind, exchange, key, msg))
}

func (c *Client) observeMessage(kind, result string) {
	if c.cfg.OnMessage != nil {
		c.cfg.OnMessage(kind, result)
	}
}
