package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// TestRequestContext holds requestID's one context value to what the two
// context.WithValue layers it replaced gave: the id where chi's
// middleware.GetReqID finds it, the log line's info where observe and
// peekHint find it, through contexts derived from it (the deadline's),
// and every other value and the cancellation of the request's own context.
func TestRequestContext(t *testing.T) {
	type otherKey struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "outer"))
	defer cancelParent()

	var (
		gotID      string
		gotInfo    *requestInfo
		gotOther   any
		cancelled  bool
		headerSeen string
	)
	h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute) // as deadline does
		defer cancel()
		gotID = middleware.GetReqID(ctx)
		gotInfo, _ = ctx.Value(requestInfoKey{}).(*requestInfo)
		gotOther = ctx.Value(otherKey{})
		cancelParent()
		select {
		case <-ctx.Done():
			cancelled = true
		case <-time.After(10 * time.Second):
		}
		headerSeen = w.Header().Get(RequestIDHeader)
	}))
	req := httptest.NewRequestWithContext(parent, http.MethodGet, "/payments/x", nil)
	req.Header.Set(RequestIDHeader, "edge-7")
	h.ServeHTTP(httptest.NewRecorder(), req)

	if gotID != "edge-7" || headerSeen != "edge-7" {
		t.Errorf("request id = %q, header %q; want edge-7", gotID, headerSeen)
	}
	if gotInfo == nil {
		t.Error("no *requestInfo in the request's context")
	}
	if gotOther != "outer" {
		t.Errorf("the parent's value = %v, want outer", gotOther)
	}
	if !cancelled {
		t.Error("cancelling the request's context did not reach a context derived from it")
	}
}

// TestObserveWithoutRequestID: observe serves and logs a request that did
// not pass through requestID, a hint's coin and txid included (its info is
// then a context value of its own).
func TestObserveWithoutRequestID(t *testing.T) {
	logs := &logBuffer{}
	s := &Server{log: slog.New(slog.NewTextHandler(logs, nil))}
	h := s.observe(peekHint(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})))
	txid := strings.Repeat("cd", 32)
	req := httptest.NewRequest(http.MethodPost, "/notify/tx", strings.NewReader(`{"coin":"ltc","hash":"`+txid+`"}`))
	h.ServeHTTP(httptest.NewRecorder(), req)
	got := logs.String()
	for _, want := range []string{"msg=request", "status=202", "coin=LTC", "txid=" + txid} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}
