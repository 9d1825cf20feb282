package api

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/metrics"
	"github.com/transient-gateway/transient/internal/payments"
)

// BenchmarkGetPaymentPublic measures GET /payments/{id} without a key
// through a real HTTP server (readBenchAPI).
func BenchmarkGetPaymentPublic(b *testing.B) {
	a, id := readBenchAPI(b)
	url := a.srv.URL + "/payments/" + id.String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
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

// BenchmarkGetPaymentHandler serves GET /payments/{id} without a key
// straight through the API's handler, without a connection: the
// middleware, the routing, the read, the JSON and the log line (to a
// file), which is transientd's own work per read beside net/http's. Its
// allocations per read are the figure to watch; its time includes the
// database's.
func BenchmarkGetPaymentHandler(b *testing.B) {
	a, id := readBenchAPI(b)
	h := a.srv.Config.Handler
	path := "/payments/" + id.String()
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// As net/http's server hands it over: parsed, with a context,
			// and no buffered reader of its own (httptest.NewRequest's).
			r, err := http.NewRequestWithContext(b.Context(), http.MethodGet, path, nil)
			if err != nil {
				b.Error(err)
				return
			}
			r.RequestURI = path
			w := &discardResponse{header: make(http.Header, 8)}
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
}

// readBenchAPI returns the API the read benchmarks serve, with metrics on
// and the text request log written as transientd writes it, to a file (as
// its stderr usually is: the line's write counts), and the id of a
// payment to read.
func readBenchAPI(b *testing.B) (*testAPI, uuid.UUID) {
	logFile, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	a := newAPIOn(b, nil, nil, func(_ *payments.Config, c *Config) {
		c.Metrics = metrics.New()
		c.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	})
	id := uuid.New()
	if _, err := a.pool.Exec(b.Context(), `INSERT INTO payments (id, coin, amount, address, confirmations_required, expires_at)
		VALUES ($1, 'LTC', 150000000, 'rltc1qbenchaddress', 6, now() + interval '1 hour')`, id); err != nil {
		b.Fatal(err)
	}
	return a, id
}

// discardResponse is a ResponseWriter that keeps the status alone.
type discardResponse struct {
	header http.Header
	status int
}

func (w *discardResponse) Header() http.Header { return w.header }

func (w *discardResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// reportCPU, deferred as defer reportCPU(b)(), reports the CPU time this
// process (server and, in BenchmarkGetPaymentPublic, the client) spent per
// operation: time per operation mostly waits on PostgreSQL, which runs
// elsewhere, and moves with the machine's load.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}
}

// processCPU is the CPU time, user and system, this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
