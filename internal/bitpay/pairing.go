package bitpay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pairing errors. Each means the request cannot succeed as sent; the HTTP
// layer answers each with a 4xx and the CLI prints it.
var (
	// ErrCodeNotFound means no pairing code has the given value.
	ErrCodeNotFound = errors.New("no such pairing code: check it, or create a new one with transientd pairing create")
	// ErrCodeExpired means the pairing code's 15 minutes have passed.
	ErrCodeExpired = errors.New("the pairing code has expired: create a new one with transientd pairing create")
	// ErrCodeUsed means the operator's pairing code was already used to
	// pair; codes are single use.
	ErrCodeUsed = errors.New("the pairing code was already used: pairing codes work once, create a new one with transientd pairing create")
	// ErrCodeIsClients means a client-initiated code was sent as if it were
	// an operator's code, or an operator's code was given to approve.
	ErrCodeIsClients = errors.New("this pairing code came from a client's pairing request: the operator approves it with transientd pairing approve, the client keeps the token it already received")
	// ErrCodeIsOperators means approve was asked for an operator's code,
	// which needs no approval.
	ErrCodeIsOperators = errors.New("this pairing code was created by the operator and needs no approval: the client pairs with it directly")
	// ErrAlreadyApproved means the client's pairing request was approved
	// before.
	ErrAlreadyApproved = errors.New("this pairing request is already approved")
	// ErrTooManyRequests means too many client pairing requests are waiting
	// for approval, from this client address or in all.
	ErrTooManyRequests = errors.New("too many pairing requests are waiting for approval: try again later, or ask the operator for a pairing code")
	// ErrTokenUnknown means the token is not one this server issued (or it
	// was mistyped).
	ErrTokenUnknown = errors.New("unknown token: pair again to get one (POST /tokens with a pairing code)")
	// ErrBadLabel means a label is too long, not UTF-8 or holds a NUL.
	ErrBadLabel = errors.New("label must be valid UTF-8 of at most 255 bytes, without NUL characters")
)

// NotApprovedError means the token comes from a client pairing request
// that the operator has not approved yet.
type NotApprovedError struct {
	Code string
}

// Error tells the client what the operator must do.
func (e *NotApprovedError) Error() string {
	return fmt.Sprintf("this token is waiting for approval: the operator must run transientd pairing approve %s", e.Code)
}

// Pairing settings.
const (
	// CodeLength is the length of a pairing code, as BitPay clients check it.
	CodeLength = 7
	// CodeLifetime is how long a pairing code can be used.
	CodeLifetime = 15 * time.Minute
	// FacadeMerchant is the only facade Transient grants.
	FacadeMerchant = "merchant"
	// maxWaiting bounds the client pairing requests waiting for approval,
	// from all sources together; each source has its own, smaller limit.
	maxWaiting = 1000
	// tokenBytes is the entropy of a token.
	tokenBytes = 32
)

// PairingCode is one pairing code and where it stands.
type PairingCode struct {
	Code   string
	Origin string // "operator" or "client"
	Facade string
	Label  string
	// SIN is the client's; empty for an operator's code not yet claimed.
	SIN string
	// Source is the client address a client's request came from (an IPv4
	// address or an IPv6 /64); empty for operator codes.
	Source     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ApprovedAt time.Time // zero while a client's request waits
	ClaimedAt  time.Time // zero unless an operator's code was used
	TokenID    uuid.UUID // uuid.Nil while no token exists
}

// Pairing code states, as State reports them.
const (
	StateWaitingForClient   = "waiting_for_client"   // operator's code, not used yet
	StateWaitingForApproval = "waiting_for_approval" // client's request, not approved yet
	StatePaired             = "paired"               // used or approved: the token works
	StateExpired            = "expired"              // expired unused or unapproved
)

// State says where the code stands at now.
func (c PairingCode) State(now time.Time) string {
	switch {
	case !c.ClaimedAt.IsZero() || (c.Origin == "client" && !c.ApprovedAt.IsZero()):
		return StatePaired
	case !now.Before(c.ExpiresAt):
		return StateExpired
	case c.Origin == "client":
		return StateWaitingForApproval
	default:
		return StateWaitingForClient
	}
}

// Issued is a token as pairing hands it out: the only moment its value is
// known, since only its hash is stored.
type Issued struct {
	Token string
	Code  PairingCode
}

// Token is a stored token, found by its value.
type Token struct {
	ID        uuid.UUID
	SIN       string
	Facade    string
	Label     string
	Approved  bool
	CreatedAt time.Time
}

// Pairings keeps pairing codes and tokens in PostgreSQL. It is safe for
// concurrent use; the CLI and the HTTP API use it alike.
type Pairings struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewPairings returns a Pairings on pool; now defaults to time.Now.
func NewPairings(pool *pgxpool.Pool, now func() time.Time) *Pairings {
	if now == nil {
		now = time.Now
	}
	return &Pairings{pool: pool, now: now}
}

// randomBase58 returns n random base58 characters.
func randomBase58(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		// 58 × 4 = 232 < 256: reject above it for a uniform choice.
		for b[i] >= 232 {
			var one [1]byte
			_, _ = rand.Read(one[:])
			b[i] = one[0]
		}
		b[i] = base58Alphabet[b[i]%58]
	}
	return string(b)
}

// newToken returns a fresh token value and its hash.
func newToken() (string, []byte) {
	raw := make([]byte, tokenBytes)
	_, _ = rand.Read(raw)
	tok := base58Encode(raw)
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

func checkLabel(label string) error {
	if len(label) > 255 || !utf8.ValidString(label) || strings.IndexByte(label, 0) >= 0 {
		return ErrBadLabel
	}
	return nil
}

func (ps *Pairings) clock() time.Time { return ps.now().UTC().Truncate(time.Microsecond) }

// insertCode stores c under a fresh random code, retrying on the rare
// collision.
func insertCode(ctx context.Context, tx pgx.Tx, c *PairingCode) error {
	for range 5 {
		c.Code = randomBase58(CodeLength)
		tag, err := tx.Exec(ctx, `
			INSERT INTO bitpay_pairing_codes (code, origin, facade, label, sin, token_id, created_at, expires_at, approved_at, source)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (code) DO NOTHING`,
			c.Code, c.Origin, c.Facade, c.Label, nullString(c.SIN), nullUUID(c.TokenID), c.CreatedAt, c.ExpiresAt,
			nullTime(c.ApprovedAt), nullString(c.Source))
		if err != nil {
			return fmt.Errorf("bitpay: insert pairing code: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	return errors.New("bitpay: could not find a free pairing code")
}

// CreateCode creates an operator's pairing code for the merchant facade,
// valid for CodeLifetime and usable once.
func (ps *Pairings) CreateCode(ctx context.Context, label string) (*PairingCode, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	now := ps.clock()
	c := &PairingCode{Origin: "operator", Facade: FacadeMerchant, Label: label, CreatedAt: now,
		ExpiresAt: now.Add(CodeLifetime), ApprovedAt: now}
	err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error { return insertCode(ctx, tx, c) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Claim pairs the client sin with an operator's code and issues its token,
// which works at once. A code works once and until it expires; label, when
// the code has none, becomes the pairing's label.
func (ps *Pairings) Claim(ctx context.Context, code, sin, label string) (*Issued, error) {
	sin, ok := NormalizeSIN(sin)
	if !ok {
		return nil, ErrBadSIN
	}
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	var out *Issued
	err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error {
		c, err := lockCode(ctx, tx, code)
		if err != nil {
			return err
		}
		now := ps.clock()
		switch {
		case c.Origin == "client":
			return ErrCodeIsClients
		case !c.ClaimedAt.IsZero():
			return ErrCodeUsed
		case !now.Before(c.ExpiresAt):
			return ErrCodeExpired
		}
		if c.Label == "" {
			c.Label = label
		}
		tok, hash := newToken()
		c.TokenID, c.SIN, c.ClaimedAt = uuid.New(), sin, now
		if err := insertToken(ctx, tx, c.TokenID, hash, sin, c.Label, now, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE bitpay_pairing_codes SET sin = $2, token_id = $3, claimed_at = $4, label = $5 WHERE code = $1`,
			c.Code, sin, c.TokenID, now, c.Label)
		if err != nil {
			return fmt.Errorf("bitpay: claim pairing code: %w", err)
		}
		out = &Issued{Token: tok, Code: *c}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Request records a client-initiated pairing request for sin: a new pairing
// code and a token that works once the operator approves the code (before
// it expires). source is the client's address; it fails with
// ErrTooManyRequests when perSource requests from it, or maxWaiting in all,
// already wait.
func (ps *Pairings) Request(ctx context.Context, sin, label, source string, perSource int) (*Issued, error) {
	sin, ok := NormalizeSIN(sin)
	if !ok {
		return nil, ErrBadSIN
	}
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	var out *Issued
	err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error {
		now := ps.clock()
		// Serialise the count and the insert across processes.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(0x6269747061797071)); err != nil {
			return fmt.Errorf("bitpay: pairing request: %w", err)
		}
		var waiting, fromSource int
		err := tx.QueryRow(ctx, `
			SELECT count(*), count(*) FILTER (WHERE source = $2) FROM bitpay_pairing_codes
			WHERE origin = 'client' AND approved_at IS NULL AND expires_at > $1`, now, source).Scan(&waiting, &fromSource)
		if err != nil {
			return fmt.Errorf("bitpay: pairing request: %w", err)
		}
		if waiting >= maxWaiting || fromSource >= perSource {
			return ErrTooManyRequests
		}
		tok, hash := newToken()
		c := &PairingCode{Origin: "client", Facade: FacadeMerchant, Label: label, SIN: sin, CreatedAt: now,
			ExpiresAt: now.Add(CodeLifetime), TokenID: uuid.New(), Source: source}
		if err := insertToken(ctx, tx, c.TokenID, hash, sin, label, now, time.Time{}); err != nil {
			return err
		}
		if err := insertCode(ctx, tx, c); err != nil {
			return err
		}
		out = &Issued{Token: tok, Code: *c}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Approve approves a client's pairing request: its token works from now
// on. The request must not have expired or been approved before.
func (ps *Pairings) Approve(ctx context.Context, code string) (*PairingCode, error) {
	var out *PairingCode
	err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error {
		c, err := lockCode(ctx, tx, code)
		if err != nil {
			return err
		}
		now := ps.clock()
		switch {
		case c.Origin == "operator":
			return ErrCodeIsOperators
		case !c.ApprovedAt.IsZero():
			return ErrAlreadyApproved
		case !now.Before(c.ExpiresAt):
			return ErrCodeExpired
		}
		c.ApprovedAt = now
		if _, err := tx.Exec(ctx, `UPDATE bitpay_pairing_codes SET approved_at = $2 WHERE code = $1`, c.Code, now); err != nil {
			return fmt.Errorf("bitpay: approve: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE bitpay_tokens SET approved_at = $2 WHERE id = $1`, c.TokenID, now); err != nil {
			return fmt.Errorf("bitpay: approve: %w", err)
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const codeColumns = `code, origin, facade, label, coalesce(sin, ''), created_at, expires_at, approved_at, claimed_at, token_id,
	coalesce(source, '')`

func scanCode(row pgx.Row) (*PairingCode, error) {
	var (
		c                 PairingCode
		approved, claimed *time.Time
		tokenID           *uuid.UUID
	)
	if err := row.Scan(&c.Code, &c.Origin, &c.Facade, &c.Label, &c.SIN, &c.CreatedAt, &c.ExpiresAt, &approved, &claimed, &tokenID, &c.Source); err != nil {
		return nil, err
	}
	if approved != nil {
		c.ApprovedAt = *approved
	}
	if claimed != nil {
		c.ClaimedAt = *claimed
	}
	if tokenID != nil {
		c.TokenID = *tokenID
	}
	return &c, nil
}

// lockCode reads a pairing code and locks it for the rest of tx.
func lockCode(ctx context.Context, tx pgx.Tx, code string) (*PairingCode, error) {
	code = strings.TrimSpace(code)
	if len(code) != CodeLength {
		return nil, ErrCodeNotFound
	}
	c, err := scanCode(tx.QueryRow(ctx, `SELECT `+codeColumns+` FROM bitpay_pairing_codes WHERE code = $1 FOR UPDATE`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrCodeNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("bitpay: pairing code: %w", err)
	}
	return c, nil
}

// List returns every pairing code, newest first.
func (ps *Pairings) List(ctx context.Context) ([]PairingCode, error) {
	rows, err := ps.pool.Query(ctx, `SELECT `+codeColumns+` FROM bitpay_pairing_codes ORDER BY created_at DESC, code`)
	if err != nil {
		return nil, fmt.Errorf("bitpay: list pairing codes: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PairingCode, error) {
		c, err := scanCode(r)
		if err != nil {
			return PairingCode{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bitpay: list pairing codes: %w", err)
	}
	return list, nil
}

func insertToken(ctx context.Context, tx pgx.Tx, id uuid.UUID, hash []byte, sin, label string, created, approved time.Time) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO bitpay_tokens (id, token_hash, sin, facade, label, approved_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, hash, sin, FacadeMerchant, label, nullTime(approved), created)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return errors.New("bitpay: token collision") // 256 random bits: never in practice
	}
	if err != nil {
		return fmt.Errorf("bitpay: insert token: %w", err)
	}
	return nil
}

// Authenticate finds the token with the given value. An unknown value
// gives ErrTokenUnknown; a token whose pairing request is not approved yet
// gives a *NotApprovedError.
func (ps *Pairings) Authenticate(ctx context.Context, token string) (*Token, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrTokenUnknown
	}
	var (
		t        Token
		approved *time.Time
		code     *string
	)
	err := ps.pool.QueryRow(ctx, `
		SELECT t.id, t.sin, t.facade, t.label, t.approved_at, t.created_at,
			(SELECT c.code FROM bitpay_pairing_codes c WHERE c.token_id = t.id)
		FROM bitpay_tokens t WHERE t.token_hash = $1`, hashToken(token)).
		Scan(&t.ID, &t.SIN, &t.Facade, &t.Label, &approved, &t.CreatedAt, &code)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrTokenUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("bitpay: authenticate: %w", err)
	}
	if approved == nil {
		c := ""
		if code != nil {
			c = *code
		}
		return nil, &NotApprovedError{Code: c}
	}
	t.Approved = true
	return &t, nil
}

// Prune deletes pairing codes that expired unused before cutoff, with the
// tokens of client requests that were never approved. It returns how many
// codes it deleted.
func (ps *Pairings) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			DELETE FROM bitpay_pairing_codes
			WHERE expires_at < $1 AND ((origin = 'operator' AND claimed_at IS NULL) OR (origin = 'client' AND approved_at IS NULL))
			RETURNING token_id`, cutoff)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[*uuid.UUID])
		if err != nil {
			return err
		}
		n = int64(len(ids))
		var tokens []uuid.UUID
		for _, id := range ids {
			if id != nil {
				tokens = append(tokens, *id)
			}
		}
		if len(tokens) > 0 {
			_, err = tx.Exec(ctx, `DELETE FROM bitpay_tokens WHERE id = ANY($1) AND approved_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM bitpay_invoices i WHERE i.token_id = bitpay_tokens.id)`, tokens)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bitpay: prune pairing codes: %w", err)
	}
	return n, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}
