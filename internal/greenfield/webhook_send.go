package greenfield

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/webhook"
)

// WebhookKind is the outbox kind of a Greenfield webhook delivery. The
// outbox keeps the delivery row, its job, retries and log; webhookSender
// makes each attempt, because a Greenfield receiver wants its own signature
// header (BTCPay-Sig, with the webhook's own secret) and its deliveries to
// one invoice in order.
const WebhookKind = "greenfield_webhook"

// SigHeader is the header that carries a delivery's signature:
// "sha256=" and the lower-case hex HMAC-SHA256 of the exact body, keyed with
// the UTF-8 bytes of the webhook's secret.
const SigHeader = "BTCPay-Sig"

// Sign returns the BTCPay-Sig value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

const (
	// orderPoll is how often an attempt waiting for an earlier delivery to
	// the same webhook and invoice looks again.
	orderPoll = 100 * time.Millisecond
	// sendReserve is the part of an attempt's time kept for the request
	// itself: an attempt that has waited for an earlier delivery that long
	// gives up and is retried on the outbox's schedule.
	sendReserve = 5 * time.Second
	// maxSnippet is how much of a failure answer the delivery log quotes.
	maxSnippet = 200
	// recordTimeout bounds recording a request's time and answer, which
	// happens even when the attempt's context has ended.
	recordTimeout = 5 * time.Second
)

// webhookSender is the webhook.Transport of WebhookKind: it signs a
// delivery with its webhook's current secret and POSTs it to the URL
// recorded with the delivery, byte for byte, after every earlier delivery
// of the same webhook and invoice has finished (delivered, failed or dead),
// so that a receiver never hears InvoiceSettled before InvoiceProcessing.
type webhookSender struct {
	pool   *pgxpool.Pool
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

// newWebhookSender returns a sender whose client refuses non-public
// addresses (checked on every address connected to, after DNS) unless
// allowPrivate is set, follows no redirect and uses no proxy, as the
// outbox's client for per-payment destinations does.
func newWebhookSender(pool *pgxpool.Pool, allowPrivate bool, now func() time.Time, log *slog.Logger) *webhookSender {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refuseNonPublic
	}
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           100,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &webhookSender{pool: pool, client: client, now: now, log: log}
}

// refuseNonPublic is a net.Dialer Control function refusing every address
// that is not public (webhook.IsPublicIP).
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !webhook.IsPublicIP(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", webhook.ErrAddressRefused, address)
	}
	return nil
}

// sendTarget is what an attempt needs to know about its delivery.
type sendTarget struct {
	deliveryID  string
	webhookID   string
	paymentID   string
	seq         int64
	secret      string
	autoRetry   bool
	predecessor string // an earlier delivery still pending, "" if none
}

// Send makes one attempt of a Greenfield delivery (webhook.Transport). A
// delivery whose webhook was deleted fails at once; one whose webhook has
// automaticRedelivery off fails at its first unsuccessful attempt.
func (s *webhookSender) Send(ctx context.Context, out webhook.Outgoing) error {
	var head struct {
		DeliveryID string `json:"deliveryId"`
	}
	if err := json.Unmarshal(out.Body, &head); err != nil || head.DeliveryID == "" {
		return fmt.Errorf("%w: the body has no deliveryId", webhook.ErrPermanent)
	}
	t, err := s.target(ctx, head.DeliveryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: webhook deleted; delivery %s is not sent", webhook.ErrPermanent, head.DeliveryID)
	}
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", head.DeliveryID, err)
	}
	if err := s.waitTurn(ctx, t); err != nil {
		return err
	}
	status, err := s.post(ctx, out.Destination, out.Body, t.secret)
	s.record(ctx, t.deliveryID, status)
	if err != nil && !t.autoRetry && !errors.Is(err, webhook.ErrPermanent) && ctx.Err() == nil {
		return fmt.Errorf("%w: %v (automaticRedelivery is off: redeliver it by hand)", webhook.ErrPermanent, err)
	}
	return err
}

// target loads a delivery with its webhook's secret and settings.
func (s *webhookSender) target(ctx context.Context, deliveryID string) (*sendTarget, error) {
	t := &sendTarget{deliveryID: deliveryID}
	err := s.pool.QueryRow(ctx, `
		SELECT d.webhook_id, d.payment_id::text, d.seq, w.secret, w.automatic_redelivery
		FROM greenfield_webhook_deliveries d
		JOIN greenfield_webhooks w ON w.id = d.webhook_id
		WHERE d.id = $1`, deliveryID).Scan(&t.webhookID, &t.paymentID, &t.seq, &t.secret, &t.autoRetry)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// waitTurn returns once no earlier delivery of the same webhook and invoice
// is pending in the outbox, or an error (retried on the outbox's schedule)
// when one still is as the attempt's time runs short.
func (s *webhookSender) waitTurn(ctx context.Context, t *sendTarget) error {
	for {
		pred, err := s.pendingPredecessor(ctx, t)
		if err != nil {
			return fmt.Errorf("check earlier deliveries of %s: %w", t.deliveryID, err)
		}
		if pred == "" {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sendReserve+orderPoll {
			return fmt.Errorf("not sent yet: earlier delivery %s to the same webhook for the same invoice is still pending, and deliveries are kept in order", pred)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for earlier delivery %s: %w", pred, ctx.Err())
		case <-time.After(orderPoll):
		}
	}
}

// pendingPredecessor returns the id of an earlier delivery of t's webhook
// and invoice that the outbox still has pending, or "".
func (s *webhookSender) pendingPredecessor(ctx context.Context, t *sendTarget) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		SELECT g.id
		FROM greenfield_webhook_deliveries g
		JOIN webhook_deliveries o ON o.event_id = g.event_id AND o.kind = $4 AND o.body = g.body
		WHERE g.webhook_id = $1 AND g.payment_id = $2::uuid AND g.seq < $3 AND o.state = 'pending'
		ORDER BY g.seq
		LIMIT 1`, t.webhookID, t.paymentID, t.seq, WebhookKind).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// post sends body to url signed with secret and classifies the answer as
// the outbox does: 2xx delivered; 408, 429, 5xx and network errors retried;
// any other answer, and a refused address, permanent. It returns the answer's
// status, 0 if none.
func (s *webhookSender) post(ctx context.Context, url string, body []byte, secret string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", webhook.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Transient-Greenfield-Webhook/1")
	req.Header.Set(SigHeader, Sign(secret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, webhook.ErrAddressRefused) {
			return 0, fmt.Errorf("%w: %v", webhook.ErrPermanent, err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return code, nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxSnippet))
	msg := fmt.Sprintf("HTTP %d", code)
	if text := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?")); text != "" {
		msg += ": " + strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, text)
	}
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		return code, errors.New(msg)
	}
	return code, fmt.Errorf("%w: %s", webhook.ErrPermanent, msg)
}

// record keeps the time and answer of the latest request of a delivery, for
// the deliveries API (sentTimestamp, httpCode). A failure to record is
// logged, never turned into a failed attempt: the request was made.
func (s *webhookSender) record(ctx context.Context, deliveryID string, status int) {
	var code any
	if status != 0 {
		code = status
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	_, err := s.pool.Exec(rctx, `
		UPDATE greenfield_webhook_deliveries SET sent_at = $2, http_code = $3 WHERE id = $1`,
		deliveryID, s.now(), code)
	if err != nil {
		s.log.WarnContext(ctx, "greenfield webhook: record attempt", "delivery_id", deliveryID, "error", err)
	}
}
