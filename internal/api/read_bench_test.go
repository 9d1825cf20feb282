package api

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
)

// BenchmarkGetPaymentPublic measures GET /payments/{id} without a key
// through a real HTTP server, with a text request log as transientd
// writes it (to io.Discard here) and metrics on.
func BenchmarkGetPaymentPublic(b *testing.B) {
	// A file, as transientd's stderr usually is: the line's write counts.
	logFile, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	a := newAPIOn(b, nil, nil, func(_ *payments.Config, c *Config) {
		c.Metrics = metrics.New()
		c.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	})
	id := uuid.New()
	if _, err := a.pool.Exec(b.Context(), `INSERT INTO payments (id, coin, amount, address, confirmations_required, expires_at)
		VALUES ($1, 'LTC', 150000000, 'rltc1qbenchaddress', 6, now() + interval '1 hour')`, id); err != nil {
		b.Fatal(err)
	}
	url := a.srv.URL + "/payments/" + id.String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
