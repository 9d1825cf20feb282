package payments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// IdempotencyWindow is how long a key names the payment made with it.
const IdempotencyWindow = 24 * time.Hour

// Idempotency scopes: the interface a key came from. Keys of different
// scopes never meet.
const (
	ScopeHTTP = "http"
	ScopeAMQP = "amqp"
)

// MaxIdempotencyKeyLen bounds a key, in bytes.
const MaxIdempotencyKeyLen = 255

const (
	// idempotencyPoll is how often a request waits to see whether the
	// concurrent request holding its key has made the payment.
	idempotencyPoll = 25 * time.Millisecond
	// idempotencyClaimMargin is added to the node timeout to bound a claim:
	// a claim older than that belongs to a request that died, and the next
	// request with the key takes it over. The margin only has to cover the
	// creation's statements after the node call: a holder slower than its
	// claim stores nothing (its last statement checks the claim is still its
	// own) and answers ErrIdempotencyClaimLost, so a short claim never makes
	// two payments, while a long one kept a key whose holder was killed
	// unusable for that long (30 s once, which a shop retrying through a
	// crash storm could not get past).
	idempotencyClaimMargin = 3 * time.Second
	// idempotencyPruneBatch is how many expired keys one creation deletes.
	idempotencyPruneBatch = 100
)

// IdempotencyKey names one payment creation request, so that repeating it
// returns the payment the first one made.
type IdempotencyKey struct {
	// Scope is ScopeHTTP or ScopeAMQP.
	Scope string
	// Key is the client's key: 1 to MaxIdempotencyKeyLen bytes of
	// printable UTF-8.
	Key string
}

// ValidIdempotencyKey reports whether key may be used as an idempotency
// key: 1 to MaxIdempotencyKeyLen bytes of valid UTF-8 without control
// characters.
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKeyLen || !utf8.ValidString(key) {
		return false
	}
	return !strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// CreateOnce creates a payment as Create does, unless a payment was made
// with the same key within IdempotencyWindow: then it returns that payment
// (as it is now) and created false. The same key with a different request
// fails with ErrIdempotencyMismatch. Two calls with the same key at the
// same time make one payment: the later waits for the earlier and returns
// its payment, or makes its own if the earlier failed. A request that
// fails (invalid, node down) leaves the key unused.
func (s *Service) CreateOnce(ctx context.Context, key IdempotencyKey, req CreateRequest) (*Payment, bool, error) {
	if !ValidIdempotencyKey(key.Key) {
		return nil, false, invalidField("idempotency_key",
			fmt.Sprintf("an idempotency key must be 1 to %d bytes of printable text", MaxIdempotencyKeyLen))
	}
	if _, _, err := s.validate(req, s.now().UTC()); err != nil {
		return nil, false, err
	}
	fp := req.fingerprint()
	claim := uuid.New()
	existing, err := s.claimKey(ctx, key, fp, claim)
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		p, err := s.Get(ctx, *existing)
		return p, false, err
	}
	attach := req.Attach
	req.Attach = func(ctx context.Context, tx pgx.Tx, p *Payment) error {
		if attach != nil {
			if err := attach(ctx, tx, p); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `
			UPDATE payment_idempotency_keys SET payment_id = $4, claimed_until = NULL
			WHERE scope = $1 AND key = $2 AND claim = $3 AND payment_id IS NULL`,
			key.Scope, key.Key, claim, p.ID)
		if err != nil {
			return fmt.Errorf("payments: store idempotency key: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("payments: idempotency key %q: %w", key.Key, ErrIdempotencyClaimLost)
		}
		return nil
	}
	p, err := s.Create(ctx, req)
	if err != nil {
		// Free the key for a retry at once rather than when the claim
		// expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = s.pool.Exec(rctx, `
			DELETE FROM payment_idempotency_keys
			WHERE scope = $1 AND key = $2 AND claim = $3 AND payment_id IS NULL`, key.Scope, key.Key, claim)
		return nil, false, err
	}
	s.pruneIdempotencyKeys(ctx)
	return p, true, nil
}

// claimKey claims key for this request (nil, nil) or returns the payment
// already made with it, waiting while a concurrent request holds a live
// claim on it.
func (s *Service) claimKey(ctx context.Context, key IdempotencyKey, fp []byte, claim uuid.UUID) (*uuid.UUID, error) {
	for {
		now := s.now().UTC()
		var (
			paymentID    *uuid.UUID
			stored       []byte
			claimedUntil *time.Time
			ours         bool
		)
		// Insert a claim, or take over an expired key or a dead claim; else
		// read what is there.
		err := s.pool.QueryRow(ctx, `
			WITH claimed AS (
				INSERT INTO payment_idempotency_keys AS k (scope, key, fingerprint, claim, claimed_until, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (scope, key) DO UPDATE
					SET fingerprint = EXCLUDED.fingerprint, payment_id = NULL, claim = EXCLUDED.claim,
						claimed_until = EXCLUDED.claimed_until, created_at = EXCLUDED.created_at
					WHERE k.created_at <= $7 OR (k.payment_id IS NULL AND k.claimed_until < $6)
				RETURNING true AS ours, payment_id, fingerprint, claimed_until)
			SELECT ours, payment_id, fingerprint, claimed_until FROM claimed
			UNION ALL
			SELECT false, payment_id, fingerprint, claimed_until FROM payment_idempotency_keys
			WHERE scope = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
			key.Scope, key.Key, fp, claim, now.Add(s.cfg.NodeTimeout+idempotencyClaimMargin), now,
			now.Add(-IdempotencyWindow)).Scan(&ours, &paymentID, &stored, &claimedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // the holder freed the key between the two reads
		}
		if err != nil {
			return nil, fmt.Errorf("payments: idempotency key: %w", err)
		}
		switch {
		case ours:
			return nil, nil
		case !bytes.Equal(stored, fp):
			return nil, fmt.Errorf("payments: idempotency key %q: %w", key.Key, ErrIdempotencyMismatch)
		case paymentID != nil:
			return paymentID, nil
		}
		// Another request holds the key and is creating the payment.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("payments: waiting for the request holding idempotency key %q: %w", key.Key, ctx.Err())
		case <-time.After(idempotencyPoll):
		}
	}
}

// pruneIdempotencyKeys deletes a batch of keys older than the window, so
// that the table stays as small as a day's keys without a job of its own.
func (s *Service) pruneIdempotencyKeys(ctx context.Context) {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM payment_idempotency_keys WHERE (scope, key) IN (
			SELECT scope, key FROM payment_idempotency_keys
			WHERE created_at <= $1 AND payment_id IS NOT NULL
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		s.now().UTC().Add(-IdempotencyWindow), idempotencyPruneBatch)
	if err != nil {
		s.log.WarnContext(ctx, "pruning idempotency keys failed", "err", err)
	}
}

// fingerprint returns the SHA-256 of the request's content (not of its
// encoding: the same fields in another order or spacing are the same
// request).
func (r CreateRequest) fingerprint() []byte {
	metadata := r.Metadata
	var compact bytes.Buffer
	if len(metadata) > 0 && json.Compact(&compact, metadata) == nil {
		metadata = compact.Bytes()
	}
	var expiresAt string
	if !r.ExpiresAt.IsZero() {
		expiresAt = r.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(struct {
		Coin, Label, OrderID, CallbackURL, RedirectURL, ExpiresAt string
		Amount                                                    int64
		Metadata                                                  json.RawMessage
		ExpiresIn                                                 time.Duration
		Confirmations, SettleConfirmations                        *int64
	}{
		strings.ToUpper(strings.TrimSpace(r.Coin)), r.Label, r.OrderID, r.CallbackURL, r.RedirectURL, expiresAt,
		int64(r.Amount), metadata, r.ExpiresIn, r.Confirmations, r.SettleConfirmations,
	})
	sum := sha256.Sum256(b)
	return sum[:]
}
