// Package apikeys owns the API keys kept in PostgreSQL (table api_keys):
// creating them, listing them, revoking them and checking a key presented
// with a request. A key is shown once, when it is created; only its SHA-256
// is stored, with a label, a short prefix that identifies it in listings,
// and the time it was last used.
//
// Keys look like "tk_" followed by 39 base32 characters (192 random bits).
// Because they are random and long, a plain SHA-256 cannot be reversed or
// brute-forced, and checking a key is one index lookup; a slow password hash
// would cost milliseconds on every request for no gain. A key found valid is
// then trusted for TrustFor (one second) without another lookup.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors of the package.
var (
	// ErrNotFound means no key has the given id or prefix.
	ErrNotFound = errors.New("apikeys: no key has this id or prefix")

	// ErrInvalidLabel means a label is empty, too long or not UTF-8.
	ErrInvalidLabel = errors.New("apikeys: the label must be 1 to 200 characters of text")
)

// Key format.
const (
	// Prefix starts every key, so a leaked key is recognisable (secret
	// scanners) and the checker can skip the database for other tokens.
	Prefix      = "tk_"
	prefixLen   = len(Prefix) + 8 // shown in listings
	secretBytes = 24
	keyLen      = len(Prefix) + 39 // 24 bytes in unpadded base32
	maxLabel    = 200
)

// touchEvery is how stale last_used_at may get before a request updates it.
const touchEvery = time.Minute

// TrustFor is how long a key found valid in the database is accepted
// without asking again. Every authenticated request used to cost a query;
// now a busy key costs one a second. A key revoked through the Store that
// checks it is refused at once; one revoked by another process (transientd
// keys revoke, or another transientd) is refused within TrustFor.
const TrustFor = time.Second

// maxTrusted bounds the keys remembered as valid; past it the memory is
// cleared. Only valid keys are remembered, so it is reached only with more
// keys in use than that.
const maxTrusted = 4096

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Key is a stored key as listings show it; it never holds the key itself.
type Key struct {
	ID         uuid.UUID
	Label      string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Store keeps API keys in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu      sync.Mutex
	touched map[uuid.UUID]time.Time // when this process last wrote last_used_at

	trustMu    sync.Mutex
	trusted    map[[sha256.Size]byte]trustedKey // by the SHA-256 of the key
	revocation uint64                           // counts Revoke calls, so a check that raced one is not remembered
}

// trustedKey is a key the database found valid, and when it asked.
type trustedKey struct {
	sum     [sha256.Size]byte
	id      uuid.UUID
	checked time.Time
}

// NewStore returns a Store on pool. now is the clock; nil means time.Now.
func NewStore(pool *pgxpool.Pool, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, now: now, touched: make(map[uuid.UUID]time.Time), trusted: make(map[[sha256.Size]byte]trustedKey)}
}

// Create makes a new key with label and returns it with the key itself,
// which is not stored and cannot be shown again. It fails with
// ErrInvalidLabel for a bad label.
func (s *Store) Create(ctx context.Context, label string) (Key, string, error) {
	label = strings.TrimSpace(label)
	if label == "" || utf8.RuneCountInString(label) > maxLabel || !utf8.ValidString(label) {
		return Key{}, "", ErrInvalidLabel
	}
	for attempt := 0; ; attempt++ {
		secret := make([]byte, secretBytes)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		plain := Prefix + strings.ToLower(encoding.EncodeToString(secret))
		k := Key{ID: uuid.New(), Label: label, Prefix: plain[:prefixLen], CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
		sum := sha256.Sum256([]byte(plain))
		_, err := s.pool.Exec(ctx, `
			INSERT INTO api_keys (id, label, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Label, k.Prefix, sum[:], k.CreatedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && attempt < 3 {
			continue // a prefix collision (one in a trillion): draw again
		}
		if err != nil {
			return Key{}, "", fmt.Errorf("apikeys: create: %w", err)
		}
		return k, plain, nil
	}
}

// List returns every key, newest first, revoked ones included.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, label, prefix, created_at, last_used_at, revoked_at
		FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("apikeys: list: %w", err)
	}
	keys, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("apikeys: list: %w", err)
	}
	return keys, nil
}

// Revoke revokes the key named by ref, its id or its prefix as listed (a
// whole key works too: only its prefix is read), and returns it. Revoking a
// revoked key returns it unchanged. It fails with an error wrapping
// ErrNotFound when ref names no key; the error never repeats ref, which may
// be a whole key.
func (s *Store) Revoke(ctx context.Context, ref string) (Key, error) {
	ref = strings.TrimSpace(ref)
	// Forget every key trusted so far, before and after the update: a
	// check that read the key as valid before the update committed is not
	// remembered (it sees the count move), and none trusted earlier is
	// used again.
	s.forgetTrusted()
	defer s.forgetTrusted()
	var where string
	var arg any
	if id, err := uuid.Parse(ref); err == nil {
		where, arg = "id = $1", id
	} else if strings.HasPrefix(ref, Prefix) && len(ref) >= prefixLen {
		where, arg = "prefix = $1", ref[:prefixLen]
	} else {
		return Key{}, fmt.Errorf("%w (give a key id, or its prefix: tk_ and 8 characters)", ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE `+where+`
		RETURNING id, label, prefix, created_at, last_used_at, revoked_at`, arg, s.now().UTC())
	if err != nil {
		return Key{}, fmt.Errorf("apikeys: revoke: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikeys: revoke: %w", err)
	}
	return k, nil
}

// HasActive reports whether at least one key is not revoked.
func (s *Store) HasActive(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)`).Scan(&ok); err != nil {
		return false, fmt.Errorf("apikeys: %w", err)
	}
	return ok, nil
}

// CheckKey reports whether key is a stored key that is not revoked, and
// notes that it was used (at most once a minute per key in this process).
// A key the database found valid less than TrustFor ago is accepted without
// asking again, unless this Store revoked a key since; refusals are never
// remembered.
// Tokens that cannot be stored keys are refused without a query. An error
// means the answer is unknown (the database did not answer), not that the
// key is bad. It implements api.KeyChecker.
func (s *Store) CheckKey(ctx context.Context, key string) (bool, error) {
	if len(key) != keyLen || !strings.HasPrefix(key, Prefix) {
		return false, nil
	}
	sum := sha256.Sum256([]byte(key))
	asked := s.now()
	s.trustMu.Lock()
	t, ok := s.trusted[sum]
	generation := s.revocation
	s.trustMu.Unlock()
	// The map is keyed by the hash, not the key, and the hash is compared
	// again in constant time: nothing about the key leaks through timing.
	if ok && subtle.ConstantTimeCompare(t.sum[:], sum[:]) == 1 && asked.Sub(t.checked) < TrustFor && !asked.Before(t.checked) {
		s.touch(ctx, t.id)
		return true, nil
	}
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, sum[:]).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("apikeys: check: %w", err)
	}
	s.trustMu.Lock()
	if s.revocation == generation {
		if len(s.trusted) >= maxTrusted {
			clear(s.trusted)
		}
		s.trusted[sum] = trustedKey{sum: sum, id: id, checked: asked}
	}
	s.trustMu.Unlock()
	s.touch(ctx, id)
	return true, nil
}

// forgetTrusted drops every key remembered as valid.
func (s *Store) forgetTrusted() {
	s.trustMu.Lock()
	clear(s.trusted)
	s.revocation++
	s.trustMu.Unlock()
}

// touch records that key id was used, unless this process did so less than
// touchEvery ago. A failed update is not an authentication failure.
func (s *Store) touch(ctx context.Context, id uuid.UUID) {
	now := s.now().UTC()
	s.mu.Lock()
	last, ok := s.touched[id]
	if ok && now.Sub(last) < touchEvery {
		s.mu.Unlock()
		return
	}
	s.touched[id] = now
	s.mu.Unlock()
	_, _ = s.pool.Exec(ctx, `
		UPDATE api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, now)
}

func scanKey(row pgx.CollectableRow) (Key, error) {
	var k Key
	err := row.Scan(&k.ID, &k.Label, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}
