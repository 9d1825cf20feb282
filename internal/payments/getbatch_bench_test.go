package payments

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
)

// BenchmarkStoreGet reads payments with outputs by id, one reader
// ("1 reader") or 32 at once, through Store.Get (coalescing the reads
// that queue; "no spill": the second slot runs reads alone, as the read
// batcher did before getSpill) and through GetSQL alone for every read
// ("unbatched").
func BenchmarkStoreGet(b *testing.B) {
	// As many connections as transientd has by default.
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var ids []uuid.UUID
	for range 300 {
		id := uuid.New()
		if _, err := pool.Exec(b.Context(), `INSERT INTO payments (id, coin, amount, address, confirmations_required, expires_at)
			VALUES ($1, 'LTC', 150000000, $2, 6, now() + interval '1 hour')`, id, "rltc1q"+id.String()); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	store := NewStore(pool)
	for _, c := range []struct {
		name    string
		readers int // per GOMAXPROCS
		get     func(b *testing.B, id uuid.UUID) error
	}{
		{"1 reader", 0, func(b *testing.B, id uuid.UUID) error { _, err := store.Get(b.Context(), id); return err }},
		{"1 reader unbatched", 0, func(b *testing.B, id uuid.UUID) error { _, err := store.getOne(b.Context(), id); return err }},
		{"1 reader GetManySQL", 0, func(b *testing.B, id uuid.UUID) error {
			c := &getCall{id: id, done: make(chan getResult, 1)}
			store.reads.run([]*getCall{c})
			return (<-c.done).err
		}},
		{"32 readers 1 slot", 16, func(b *testing.B, id uuid.UUID) error { _, err := store.Get(b.Context(), id); return err }},
		{"32 readers 2 slots", 16, func(b *testing.B, id uuid.UUID) error { _, err := store.Get(b.Context(), id); return err }},
		{"32 readers 2 slots no spill", 16, func(b *testing.B, id uuid.UUID) error { _, err := store.Get(b.Context(), id); return err }},
		{"32 readers 4 slots", 16, func(b *testing.B, id uuid.UUID) error { _, err := store.Get(b.Context(), id); return err }},
		{"32 readers unbatched", 16, func(b *testing.B, id uuid.UUID) error { _, err := store.getOne(b.Context(), id); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			slots := 2
			if strings.Contains(c.name, "slot") {
				slots = int(c.name[len("32 readers ")] - '0')
			}
			// The previous case's batches may still be letting go.
			for {
				store.reads.mu.Lock()
				idle := store.reads.running == 0
				if idle {
					store.reads.slots = slots
					store.reads.spill = getSpill
					if strings.HasSuffix(c.name, "no spill") {
						store.reads.spill = 0 // every slot runs reads alone, as before getSpill
					}
				}
				store.reads.mu.Unlock()
				if idle {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.ReportAllocs()
			if c.readers == 0 {
				for i := 0; b.Loop(); i++ {
					if err := c.get(b, ids[i%len(ids)]); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(c.readers)
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := c.get(b, ids[i%len(ids)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
