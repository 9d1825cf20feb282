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

	req, err := ps.Request(ctx, sinA, "pos terminal")
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

	stale, err := ps.Request(ctx, sinB, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(16 * time.Minute)
	if _, err := ps.Approve(ctx, stale.Code.Code); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("approving an expired request: %v", err)
	}
	if _, err := ps.Request(ctx, "bogus", ""); !errors.Is(err, ErrBadSIN) {
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

func TestClientRequestsAreBounded(t *testing.T) {
	ctx := context.Background()
	ps := NewPairings(pgtest.NewPool(t), nil)
	for i := range maxWaiting {
		if _, err := ps.Request(ctx, sinA, ""); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := ps.Request(ctx, sinA, ""); !errors.Is(err, ErrTooManyRequests) {
		t.Errorf("request %d: %v, want ErrTooManyRequests", maxWaiting+1, err)
	}
}
