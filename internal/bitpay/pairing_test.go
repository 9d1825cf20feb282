package bitpay

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

const (
	sinA = "Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMhH"
	sinB = "Tf8DhWM5WDBB1CarpFdonta9YEBJgW1GYAt"
)

var codeRE = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{7}$`)

func TestOperatorCode(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now().UTC()}
	ps := NewPairings(pgtest.NewPool(t), clk.Now)

	c, err := ps.CreateCode(ctx, "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if !codeRE.MatchString(c.Code) || c.ExpiresAt.Sub(c.CreatedAt) != 15*time.Minute || c.State(clk.Now()) != StateWaitingForClient {
		t.Fatalf("code = %+v", c)
	}
	if _, err := ps.Claim(ctx, c.Code, "not-a-sin", ""); !errors.Is(err, ErrBadSIN) {
		t.Errorf("claim with a bad SIN: %v", err)
	}
	clk.Add(14 * time.Minute)
	issued, err := ps.Claim(ctx, c.Code, sinA, "ignored: the code has a label")
	if err != nil {
		t.Fatal(err)
	}
	if len(issued.Token) < 40 || issued.Code.Label != "shop1" || issued.Code.SIN != sinA {
		t.Errorf("issued = %+v", issued)
	}
	tok, err := ps.Authenticate(ctx, issued.Token)
	if err != nil || tok.SIN != sinA || tok.Label != "shop1" || !tok.Approved {
		t.Fatalf("Authenticate = %+v, %v", tok, err)
	}
	// Only the hash is stored.
	var stored int
	if err := ps.pool.QueryRow(ctx, `SELECT count(*) FROM bitpay_tokens WHERE token_hash = sha256($1::bytea)`, []byte(issued.Token)).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("token rows by hash = %d, %v", stored, err)
	}
	if _, err := ps.Claim(ctx, c.Code, sinB, ""); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("second claim: %v, want ErrCodeUsed", err)
	}
	if _, err := ps.Authenticate(ctx, issued.Token+"x"); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("wrong token: %v", err)
	}

	late, err := ps.CreateCode(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(15 * time.Minute)
	if _, err := ps.Claim(ctx, late.Code, sinB, "shop2"); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("claim after 15 minutes: %v, want ErrCodeExpired", err)
	}
	if _, err := ps.Claim(ctx, "zzzzzzz", sinB, ""); !errors.Is(err, ErrCodeNotFound) {
		t.Errorf("unknown code: %v", err)
	}
	if _, err := ps.Approve(ctx, c.Code); !errors.Is(err, ErrCodeIsOperators) {
		t.Errorf("approve an operator's code: %v", err)
	}
	if _, err := ps.CreateCode(ctx, string(make([]byte, 256))); !errors.Is(err, ErrBadLabel) {
		t.Errorf("long label: %v", err)
	}

	// Prune removes only codes that expired unused before the cutoff.
	n, err := ps.Prune(ctx, clk.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("Prune = %d, %v; want 1 (the expired, unused code)", n, err)
	}
	list, err := ps.List(ctx)
	if err != nil || len(list) != 1 || list[0].Code != c.Code || list[0].State(clk.Now()) != StatePaired {
		t.Errorf("List after prune = %+v, %v", list, err)
	}
}

func TestClientRequest(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now().UTC()}
	ps := NewPairings(pgtest.NewPool(t), clk.Now)

	req, err := ps.Request(ctx, sinA, "pos terminal", "198.51.100.1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !codeRE.MatchString(req.Code.Code) || req.Code.State(clk.Now()) != StateWaitingForApproval {
		t.Fatalf("request = %+v", req.Code)
	}
	var na *NotApprovedError
	if _, err := ps.Authenticate(ctx, req.Token); !errors.As(err, &na) || na.Code != req.Code.Code {
		t.Fatalf("token before approval: %v", err)
	}
	if _, err := ps.Claim(ctx, req.Code.Code, sinB, ""); !errors.Is(err, ErrCodeIsClients) {
		t.Errorf("claiming a client's code: %v", err)
	}
	c, err := ps.Approve(ctx, req.Code.Code)
	if err != nil || c.State(clk.Now()) != StatePaired {
		t.Fatalf("approve: %+v, %v", c, err)
	}
	if tok, err := ps.Authenticate(ctx, req.Token); err != nil || tok.SIN != sinA || tok.Label != "pos terminal" {
		t.Errorf("token after approval: %+v, %v", tok, err)
	}
	if _, err := ps.Approve(ctx, req.Code.Code); !errors.Is(err, ErrAlreadyApproved) {
		t.Errorf("second approval: %v", err)
	}

	stale, err := ps.Request(ctx, sinB, "", "198.51.100.2", 3)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(16 * time.Minute)
	if _, err := ps.Approve(ctx, stale.Code.Code); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("approving an expired request: %v", err)
	}
	if _, err := ps.Request(ctx, "bogus", "", "198.51.100.2", 3); !errors.Is(err, ErrBadSIN) {
		t.Errorf("request with a bad SIN: %v", err)
	}
	// Pruning deletes the stale request and its token, not the approved one.
	if n, err := ps.Prune(ctx, clk.Now()); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v", n, err)
	}
	if _, err := ps.Authenticate(ctx, stale.Token); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("pruned token: %v", err)
	}
	if _, err := ps.Authenticate(ctx, req.Token); err != nil {
		t.Errorf("approved token after prune: %v", err)
	}
}

// TestClientRequestsAreBounded: one client address may have only a few
// requests waiting, so it cannot crowd out the others; all sources
// together are bounded too.
func TestClientRequestsAreBounded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	ps := NewPairings(pool, nil)
	for i := range 3 {
		if _, err := ps.Request(ctx, sinA, "shop1", "198.51.100.7", 3); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if _, err := ps.Request(ctx, sinA, "shop1", "198.51.100.7", 3); !errors.Is(err, ErrTooManyRequests) {
		t.Errorf("fourth request from one address: %v, want ErrTooManyRequests", err)
	}
	req, err := ps.Request(ctx, sinB, "real shop", "203.0.113.9", 3)
	if err != nil {
		t.Fatalf("a request from another address: %v", err)
	}
	list, err := ps.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]int{}
	for _, c := range list {
		sources[c.Source]++
	}
	if sources["198.51.100.7"] != 3 || sources["203.0.113.9"] != 1 || list[0].Code != req.Code.Code {
		t.Errorf("sources in the list: %v", sources)
	}

	// Fill the global bound from many addresses at once.
	if _, err := pool.Exec(ctx, `
		WITH tokens AS (
			INSERT INTO bitpay_tokens (id, token_hash, sin, label, created_at)
			SELECT gen_random_uuid(), sha256(('flood' || i)::bytea), $1, '', now() FROM generate_series(1, $2::int) i
			RETURNING id)
		INSERT INTO bitpay_pairing_codes (code, origin, label, sin, token_id, created_at, expires_at, source)
		SELECT translate(substr(md5(id::text), 1, 7), '0', 'z'), 'client', '', $1, id, now(), now() + interval '15 minutes', id::text
		FROM tokens`, sinA, maxWaiting-4); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Request(ctx, sinB, "", "192.0.2.1", 3); !errors.Is(err, ErrTooManyRequests) {
		t.Errorf("request %d in all: %v, want ErrTooManyRequests", maxWaiting+1, err)
	}
}
