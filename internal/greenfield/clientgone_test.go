package greenfield

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/transient-gateway/transient/internal/apiwire"
)

// TestClientGoneIsNotAServerError: a request whose client hung up is
// recorded as 499 and not logged as a failed request.
func TestClientGoneIsNotAServerError(t *testing.T) {
	var logs bytes.Buffer
	s := &Service{log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	s.WriteError(w, httptest.NewRequest("POST", "/api/v1/stores/s/invoices", nil).WithContext(ctx),
		fmt.Errorf("greenfield: create: %w", context.Canceled))
	if w.Code != apiwire.StatusClientClosedRequest {
		t.Errorf("status %d, want 499", w.Code)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("logged as a failure: %s", logs.String())
	}
}
