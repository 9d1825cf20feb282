package api

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestIdempotencyKey(t *testing.T) {
	a := newAPI(t)
	key := uuid.NewString()
	body := `{"currency":"LTC","amount":"1.25","order_id":"o-1"}`
	post := func(body, key string) response {
		t.Helper()
		return a.do("POST", "/payments", body, "Authorization", "Bearer "+testKey, IdempotencyKeyHeader, key)
	}

	first := post(body, key)
	if first.status != http.StatusCreated || first.header.Get(replayedHeader) != "" {
		t.Fatalf("first: %d %s %v", first.status, first.body, first.header)
	}
	id := first.json(t)["payment"].(map[string]any)["id"]

	// The same request again, spelled differently, returns the same payment.
	again := post(`{"order_id": "o-1", "amount": 1.25, "currency": "ltc"}`, key)
	if again.status != http.StatusCreated || again.header.Get(replayedHeader) != "true" {
		t.Fatalf("repeat: %d %s, Idempotent-Replayed %q", again.status, again.body, again.header.Get(replayedHeader))
	}
	if got := again.json(t)["payment"].(map[string]any)["id"]; got != id {
		t.Fatalf("repeat returned payment %v, want %v", got, id)
	}
	if got := again.header.Get("Location"); got != "/payments/"+id.(string) {
		t.Errorf("repeat Location %q", got)
	}

	// Another request under the key is a 422 with the one error shape.
	other := post(`{"currency":"LTC","amount":"2"}`, key)
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("other body, same key: %d %s, want 422", other.status, other.body)
	}
	if code, _ := other.errorCode(t); code != "idempotency_key_reused" {
		t.Errorf("code %q, want idempotency_key_reused", code)
	}

	// A bad key is a 400 naming the header.
	bad := post(body, "tab\tkey")
	if code, _ := bad.errorCode(t); bad.status != http.StatusBadRequest || code != "invalid_idempotency_key" {
		t.Errorf("bad key: %d %s", bad.status, bad.body)
	}
	// Without the header, every request makes a payment.
	if a.create(body)["id"] == id {
		t.Error("a request without Idempotency-Key returned the keyed payment")
	}

	var n int
	if err := a.pool.QueryRow(t.Context(), `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d payments stored (%v), want 2", n, err)
	}
}

// TestIdempotencyKeyConcurrent sends the same keyed request many times at
// once: one payment, and every answer names it.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	a := newAPI(t)
	key := uuid.NewString()
	const n = 10
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		resps [n]response
	)
	for i := range n {
		wg.Go(func() {
			<-start
			resps[i] = a.do("POST", "/payments", `{"currency":"LTC","amount":"0.5"}`,
				"Authorization", "Bearer "+testKey, IdempotencyKeyHeader, key)
		})
	}
	close(start)
	wg.Wait()
	var id any
	replayed := 0
	for i, r := range resps {
		if r.status != http.StatusCreated {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		got := r.json(t)["payment"].(map[string]any)["id"]
		if id == nil {
			id = got
		}
		if got != id {
			t.Fatalf("request %d got payment %v, another got %v", i, got, id)
		}
		if r.header.Get(replayedHeader) == "true" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d answers marked replayed, want %d", replayed, n-1)
	}
	var count int
	if err := a.pool.QueryRow(t.Context(), `SELECT count(*) FROM payments`).Scan(&count); err != nil || count != 1 {
		t.Fatalf("%d payments stored (%v), want 1", count, err)
	}
}
