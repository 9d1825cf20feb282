package apikeys

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/freeport"
	"github.com/transient-gateway/transient/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestKeys(t *testing.T) {
	pool := pgtest.NewPool(t)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := NewStore(pool, clk.now)
	ctx := context.Background()

	for _, label := range []string{"", "   ", strings.Repeat("x", 201), "bad\xff"} {
		if _, _, err := s.Create(ctx, label); !errors.Is(err, ErrInvalidLabel) {
			t.Errorf("label %q: %v, want ErrInvalidLabel", label, err)
		}
	}
	k, key, err := s.Create(ctx, " shop ")
	if err != nil {
		t.Fatal(err)
	}
	if k.Label != "shop" || len(key) != keyLen || !strings.HasPrefix(key, Prefix) || k.Prefix != key[:prefixLen] || key != strings.ToLower(key) {
		t.Fatalf("created %+v, key %q", k, key)
	}
	// Only the hash is stored.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE position($1 in label || prefix || encode(key_hash, 'escape')) > 0`, key).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the key is stored in the clear (%d rows, %v)", n, err)
	}
	_, other, _ := s.Create(ctx, "other")
	if other == key {
		t.Fatal("two keys are equal")
	}

	lastUsed := func() *time.Time {
		t.Helper()
		keys, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range keys {
			if x.ID == k.ID {
				return x.LastUsedAt
			}
		}
		t.Fatalf("key %s not listed", k.ID)
		return nil
	}
	if lastUsed() != nil {
		t.Fatal("a new key has a last-used time")
	}
	for _, tt := range []struct {
		token string
		want  bool
	}{{key, true}, {other, true}, {key[:keyLen-1], false}, {key + "x", false}, {strings.ToUpper(key), false}, {"", false}} {
		if ok, err := s.CheckKey(ctx, tt.token); ok != tt.want || err != nil {
			t.Errorf("CheckKey(%q) = %t, %v; want %t", tt.token, ok, err, tt.want)
		}
	}
	first := lastUsed()
	if first == nil || !first.Equal(clk.now()) {
		t.Fatalf("last used %v, want %v", first, clk.now())
	}
	// Within a minute the time is not written again; after it, it is.
	clk.add(30 * time.Second)
	_, _ = s.CheckKey(ctx, key)
	if got := lastUsed(); !got.Equal(*first) {
		t.Errorf("last used rewritten after 30s: %v", got)
	}
	clk.add(31 * time.Second)
	_, _ = s.CheckKey(ctx, key)
	if got := lastUsed(); !got.Equal(clk.now()) {
		t.Errorf("last used %v after a minute, want %v", got, clk.now())
	}

	if has, err := s.HasActive(ctx); !has || err != nil {
		t.Errorf("HasActive = %t, %v", has, err)
	}
	// Revoke by the whole key (only its prefix is read), by id, twice.
	r, err := s.Revoke(ctx, key)
	if err != nil || r.ID != k.ID || r.RevokedAt == nil {
		t.Fatalf("revoke by key: %+v, %v", r, err)
	}
	again, err := s.Revoke(ctx, k.ID.String())
	if err != nil || !again.RevokedAt.Equal(*r.RevokedAt) {
		t.Errorf("revoking twice changed the time: %+v, %v", again, err)
	}
	if ok, _ := s.CheckKey(ctx, key); ok {
		t.Error("a revoked key is accepted")
	}
	if ok, _ := s.CheckKey(ctx, other); !ok {
		t.Error("revoking one key revoked another")
	}
	for _, ref := range []string{"tk_", "tk_aaaaaaaa", "nope", "7d444840-9dc0-11d1-b245-5ffdce74fad2"} {
		if _, err := s.Revoke(ctx, ref); !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), ref) && len(ref) > 8 {
			t.Errorf("revoke %q: %v", ref, err)
		}
	}
}

func TestCheckKeyDatabaseDown(t *testing.T) {
	addr, err := freeport.Addr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := NewStore(pool, nil)
	// A token that cannot be a stored key is refused without the database.
	if ok, err := s.CheckKey(context.Background(), "some-static-key-0123456789"); ok || err != nil {
		t.Errorf("CheckKey(non-key) = %t, %v; want false, nil", ok, err)
	}
	// A stored-looking key cannot be checked: the error says so.
	if ok, err := s.CheckKey(context.Background(), Prefix+strings.Repeat("a", 39)); ok || err == nil {
		t.Errorf("CheckKey with the database down = %t, %v; want an error", ok, err)
	}
}

// TestTrustedKeys: a key found valid is accepted without the database for
// TrustFor; a revocation through the same Store is seen by the next check,
// one through another Store (another process: transientd keys revoke) once
// TrustFor has passed; a refusal is never remembered.
func TestTrustedKeys(t *testing.T) {
	pool := pgtest.NewPool(t)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, elsewhere := NewStore(pool, clk.now), NewStore(pool, clk.now)
	ctx := context.Background()
	check := func(key string) bool {
		t.Helper()
		ok, err := s.CheckKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	k, key, err := s.Create(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !check(key) {
		t.Fatal("a new key is refused")
	}
	// Revoked in the database by another process: still trusted here for
	// less than TrustFor, refused after it.
	if _, err := elsewhere.Revoke(ctx, k.ID.String()); err != nil {
		t.Fatal(err)
	}
	clk.add(TrustFor - time.Millisecond)
	if !check(key) {
		t.Error("a key checked less than TrustFor ago was asked again (no trust kept)")
	}
	clk.add(time.Millisecond)
	if check(key) {
		t.Errorf("a key revoked elsewhere is still accepted after TrustFor (%v)", TrustFor)
	}
	// A refusal is not remembered: the key restored is accepted at once.
	if _, err := pool.Exec(ctx, `UPDATE api_keys SET revoked_at = NULL WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	if !check(key) {
		t.Error("a restored key is refused: a refusal was remembered")
	}
	// Revoked through this Store: the very next check refuses it.
	if _, err := s.Revoke(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if check(key) {
		t.Error("a key revoked through this Store is accepted on the next check")
	}
	// A clock that went back does not stretch the trust.
	_, key2, err := s.Create(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	check(key2)
	if _, err := pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE label = 'other'`); err != nil {
		t.Fatal(err)
	}
	clk.add(-time.Hour)
	if check(key2) {
		t.Error("a key revoked elsewhere is accepted after the clock went back")
	}
}

// TestRevokeRacingChecks: checks running while a key is revoked may answer
// either way, but once Revoke has returned no check accepts the key, also
// when a check that read it as valid before the revocation ends after it.
func TestRevokeRacingChecks(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := NewStore(pool, nil)
	ctx := context.Background()
	for round := range 5 {
		k, key, err := s.Create(ctx, "racing")
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var checks atomic.Int64
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						_, _ = s.CheckKey(ctx, key)
						checks.Add(1)
					}
				}
			})
		}
		// Revoke while the checks are under way.
		for deadline := time.Now().Add(10 * time.Second); checks.Load() < 20; {
			if time.Now().After(deadline) {
				t.Fatal("the checks did not run")
			}
			runtime.Gosched()
		}
		if _, err := s.Revoke(ctx, k.ID.String()); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if ok, _ := s.CheckKey(ctx, key); ok {
				t.Fatalf("round %d: check %d after Revoke returned accepted the key", round, i)
			}
		}
		close(stop)
		wg.Wait()
	}
}
