package payments

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// BenchmarkHintStore measures how fast notification hints are stored, each
// caller waiting for its hint to be committed, as POST /notify/tx does: one
// River insert per hint ("single") against the group-committing batcher
// ("batched"), with 64 concurrent callers.
//
//	go test -run '^$' -bench HintStore -benchtime 5000x ./internal/payments/
//
// "batched-dup" hints 500 transactions over and over, as the bench's burst
// does (5,000 hints for 500 transactions): most hints are duplicates of a
// job already stored and not yet worked.
func BenchmarkHintStore(b *testing.B) {
	for _, mode := range []string{"single", "batched", "batched-dup"} {
		batched, dup := mode != "single", mode == "batched-dup"
		b.Run(mode, func(b *testing.B) {
			pool := pgtest.NewPool(b)
			jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
			if err != nil {
				b.Fatal(err)
			}
			svc := NewService(pool, Config{Coins: []Coin{{Code: "LTC"}}, Jobs: jobs})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				if batched {
					_ = svc.Run(ctx)
				}
				close(done)
			}()
			if batched {
				waitRunning(b, svc.hintBatch)
			}
			var n atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if dup {
						i %= 500
					}
					txid := fmt.Sprintf("%064x", i)
					if err := svc.HintTx(context.Background(), "LTC", txid); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hints/s")
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
