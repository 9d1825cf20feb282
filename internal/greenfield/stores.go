package greenfield

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/rates"
)

// Store is a Greenfield store: it owns invoices, webhooks and API keys.
type Store struct {
	ID              string
	Name            string
	DefaultCurrency string
	// Coins are the coins the store takes; empty means every configured
	// coin.
	Coins     []string
	CreatedAt time.Time
}

// KeyInfo is a stored key as listings show it; it never holds the key.
type KeyInfo struct {
	ID          uuid.UUID
	StoreID     string
	Label       string
	Prefix      string
	Permissions []string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// Stores keeps stores and their API keys in PostgreSQL. It is safe for
// concurrent use.
type Stores struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewStores returns a Stores on pool; now nil means time.Now.
func NewStores(pool *pgxpool.Pool, now func() time.Time) *Stores {
	if now == nil {
		now = time.Now
	}
	return &Stores{pool: pool, now: now}
}

const (
	storeIDLen = 44
	base58     = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	keyBytes   = 20 // keys are 40 hex characters, as BTCPay's are
	maxName    = 200
)

func newStoreID() string {
	var b strings.Builder
	for range storeIDLen {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(base58)))) // never fails (crypto/rand)
		b.WriteByte(base58[n.Int64()])
	}
	return b.String()
}

// validStoreID reports whether id has the shape of a store id, so that
// other text is refused without a query.
func validStoreID(id string) bool {
	if len(id) != storeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(base58, id[i]) < 0 {
			return false
		}
	}
	return true
}

// CreateStore stores a new store named name, pricing in defaultCurrency
// (a currency or coin code) and taking coins (empty: every coin). Bad
// input fails with a ValidationError.
func (s *Stores) CreateStore(ctx context.Context, name, defaultCurrency string, coins []string) (*Store, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxName || !payments.ValidText(name) {
		return nil, Invalid("name", "the name must be 1 to %d characters of text", maxName)
	}
	defaultCurrency = strings.ToUpper(strings.TrimSpace(defaultCurrency))
	if !rates.ValidCode(defaultCurrency) {
		return nil, Invalid("defaultCurrency", "the default currency must be a currency code such as USD, or a coin code")
	}
	st := &Store{ID: newStoreID(), Name: name, DefaultCurrency: defaultCurrency, Coins: coins,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if st.Coins == nil {
		st.Coins = []string{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO greenfield_stores (id, name, default_currency, coins, created_at) VALUES ($1, $2, $3, $4, $5)`,
		st.ID, st.Name, st.DefaultCurrency, st.Coins, st.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("greenfield: create store: %w", err)
	}
	return st, nil
}

// ListStores returns every store, oldest first.
func (s *Stores) ListStores(ctx context.Context) ([]*Store, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, default_currency, coins, created_at FROM greenfield_stores ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("greenfield: list stores: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanStore)
	if err != nil {
		return nil, fmt.Errorf("greenfield: list stores: %w", err)
	}
	return out, nil
}

// Get returns the store with id, or an error wrapping ErrStoreNotFound.
func (s *Stores) Get(ctx context.Context, id string) (*Store, error) {
	if !validStoreID(id) {
		return nil, ErrStoreNotFound
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, default_currency, coins, created_at FROM greenfield_stores WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("greenfield: get store: %w", err)
	}
	st, err := pgx.CollectExactlyOneRow(rows, scanStore)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrStoreNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: get store: %w", err)
	}
	return st, nil
}

func scanStore(row pgx.CollectableRow) (*Store, error) {
	var st Store
	err := row.Scan(&st.ID, &st.Name, &st.DefaultCurrency, &st.Coins, &st.CreatedAt)
	return &st, err
}

// CreateKey makes a key for store storeID holding perms (BTCPay's names;
// duplicates are dropped, order kept) and returns it with the key itself,
// which is not stored and cannot be shown again. Bad input fails with a
// ValidationError; an unknown store with an error wrapping
// ErrStoreNotFound.
func (s *Stores) CreateKey(ctx context.Context, storeID, label string, perms []string) (KeyInfo, string, error) {
	label = strings.TrimSpace(label)
	if label == "" || utf8.RuneCountInString(label) > maxName || !payments.ValidText(label) {
		return KeyInfo{}, "", Invalid("label", "the label must be 1 to %d characters of text", maxName)
	}
	var clean []string
	for _, p := range perms {
		p = strings.ToLower(strings.TrimSpace(p))
		if !ValidPermission(p) {
			return KeyInfo{}, "", Invalid("permissions", "%q is not a store permission; use one of %s", p, strings.Join(Permissions(), ", "))
		}
		if !slices.Contains(clean, p) {
			clean = append(clean, p)
		}
	}
	if len(clean) == 0 {
		return KeyInfo{}, "", Invalid("permissions", "give at least one permission, such as %s", PermCreateInvoice)
	}
	if _, err := s.Get(ctx, storeID); err != nil {
		return KeyInfo{}, "", err
	}
	for attempt := 0; ; attempt++ {
		secret := make([]byte, keyBytes)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		plain := hex.EncodeToString(secret)
		k := KeyInfo{ID: uuid.New(), StoreID: storeID, Label: label, Prefix: plain[:8], Permissions: clean,
			CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
		sum := sha256.Sum256([]byte(plain))
		_, err := s.pool.Exec(ctx, `
			INSERT INTO greenfield_api_keys (id, store_id, label, prefix, key_hash, permissions, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.StoreID, k.Label, k.Prefix, sum[:], k.Permissions, k.CreatedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && attempt < 3 {
			continue // a prefix collision: draw again
		}
		if err != nil {
			return KeyInfo{}, "", fmt.Errorf("greenfield: create key: %w", err)
		}
		return k, plain, nil
	}
}

// ListKeys returns every key, newest first, revoked ones included.
func (s *Stores) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, store_id, label, prefix, permissions, created_at, last_used_at, revoked_at
		FROM greenfield_api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("greenfield: list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (KeyInfo, error) {
		var k KeyInfo
		err := row.Scan(&k.ID, &k.StoreID, &k.Label, &k.Prefix, &k.Permissions, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("greenfield: list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes the key with id; revoking a revoked key changes
// nothing. An unknown id fails with ErrKeyNotFound.
func (s *Stores) RevokeKey(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE greenfield_api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, s.now().UTC())
	if err != nil {
		return fmt.Errorf("greenfield: revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrKeyNotFound
	}
	return nil
}

// CheckKey returns the key that key is, or nil when it is no stored,
// unrevoked key. Text that cannot be a key is refused without a query. An
// error means the answer is unknown (the database did not answer).
func (s *Stores) CheckKey(ctx context.Context, key string) (*APIKey, error) {
	if len(key) != 2*keyBytes {
		return nil, nil
	}
	if _, err := hex.DecodeString(key); err != nil || strings.ToLower(key) != key {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(key))
	var (
		k  APIKey
		id uuid.UUID
	)
	err := s.pool.QueryRow(ctx, `
		SELECT id, store_id, label, permissions FROM greenfield_api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
		sum[:]).Scan(&id, &k.StoreID, &k.Label, &k.Permissions)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("greenfield: check key: %w", err)
	}
	k.ID = id.String()
	return &k, nil
}
