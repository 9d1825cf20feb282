package apiwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/transient-gateway/transient/internal/payments"
)

// TestClassifyDatabaseGone: the errors a pooled connection gives when
// PostgreSQL crashed or shut down under it answer 503 database_unavailable,
// like a refused connection; a statement the server refuses stays a 500.
func TestClassifyDatabaseGone(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"immediate shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to immediate shutdown command"}, http.StatusServiceUnavailable},
		{"crash of another backend", &pgconn.PgError{Code: "57P02"}, http.StatusServiceUnavailable},
		{"starting up", &pgconn.PgError{Code: "57P03"}, http.StatusServiceUnavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, http.StatusServiceUnavailable},
		{"connection cut mid-answer", fmt.Errorf("payments: get: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable},
		// pgx.BeginFunc returns the rollback's error when the connection
		// died inside the transaction (a creation while PostgreSQL restarts).
		{"connection closed under a transaction", pgconn.ErrConnClosed, http.StatusServiceUnavailable},
		{"unique violation", &pgconn.PgError{Code: "23505"}, http.StatusInternalServerError},
		{"query canceled", &pgconn.PgError{Code: "57014"}, http.StatusInternalServerError},
		{"other", errors.New("boom"), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(fmt.Errorf("payments: get: %w", tc.err))
			if got.Status != tc.status {
				t.Errorf("got %d %s, want %d", got.Status, got.Code, tc.status)
			}
			if tc.status == http.StatusServiceUnavailable && got.Code != "database_unavailable" {
				t.Errorf("got code %s, want database_unavailable", got.Code)
			}
		})
	}
}

// TestClassifyClaimLost: a keyed creation that outlived its claim stored
// nothing, and the shop must repeat it with the same key: a 503 that says
// so, not a 500.
func TestClassifyClaimLost(t *testing.T) {
	got := Classify(fmt.Errorf("payments: idempotency key %q: %w", "k", payments.ErrIdempotencyClaimLost))
	if got.Status != http.StatusServiceUnavailable || got.Code != "idempotency_key_busy" {
		t.Errorf("got %d %s, want 503 idempotency_key_busy", got.Status, got.Code)
	}
}

// TestClientGone: a cancellation is the client's only when the request's
// own context has ended; while it is live, the same error is the server's.
func TestClientGone(t *testing.T) {
	canceled := fmt.Errorf("payments: LTC node unavailable: %w", context.Canceled)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if got := ClientGone(ended, canceled); got == nil || got.Status != StatusClientClosedRequest {
		t.Errorf("client hung up: got %+v, want 499", got)
	}
	if got := ClientGone(context.Background(), canceled); got != nil {
		t.Errorf("live request: got %+v, want nil (a server failure)", got)
	}
	if got := ClientGone(ended, errors.New("boom")); got != nil {
		t.Errorf("another failure after the hang-up: got %+v, want nil", got)
	}
}
