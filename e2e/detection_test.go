package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/regtest"
)

// TestHooksEndToEnd wires the real hook binaries into litecoind and checks
// that a payment goes UNPAID → PENDING → PAID through them alone (the
// catch-up loop is slowed down to an hour), with the webhooks to match.
func TestHooksEndToEnd(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1h",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	p := d.create("LTC", "1.25")
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 125_000_000, false); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PENDING", 30*time.Second)
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got := d.waitStatus(p.ID, "PAID", 30*time.Second)
	if len(got.Transactions) != 1 || got.Transactions[0].Confirmations != 2 || got.Transactions[0].State != "confirmed" {
		t.Fatalf("transactions = %+v", got.Transactions)
	}
	waitFor(t, 30*time.Second, func() bool { return len(recv.events()) >= 3 },
		func() string { return fmt.Sprintf("webhooks received: %v", recv.events()) })
	evs := recv.events()
	var seq []string
	for _, e := range statusWebhooks(t, evs) {
		if e["payment_id"] != p.ID {
			t.Errorf("webhook for another payment: %v", e)
		}
		seq = append(seq, fmt.Sprint(e["previous_status"], ">", e["status"]))
	}
	if strings.Join(seq, ",") != "UNPAID>PENDING,PENDING>PAID" && strings.Join(seq, ",") != "PENDING>PAID,UNPAID>PENDING" {
		t.Errorf("webhooks = %v", seq)
	}
}

// TestPaymentMadeWhileDown stops transientd, pays and mines while it is
// down, starts it again and expects the payment found, with no hooks at all
// (poll-only mode).
func TestPaymentMadeWhileDown(t *testing.T) {
	node := startNode(t, "")
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=1s", "NOTIFY_TOKEN=")...)
	ctx := context.Background()
	p := d.create("LTC", "0.5")
	d.stop()
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 50_000_000, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	d.restart()
	d.waitStatus(p.ID, "PAID", 30*time.Second)
}

// TestHintBurst sends 5,000 notification hints for 500 real transactions
// paying 1,000 payments (each hint ten times, from 64 connections at once)
// and checks that every payment is found exactly once. It logs the hint
// rate beside the node's own gettransaction rate at 16 concurrent calls,
// measured on the same transactions in the same run.
func TestHintBurst(t *testing.T) {
	const (
		transactions = 500
		perTx        = 2 // payments paid by each transaction
		duplicates   = 10
	)
	node := startNode(t, "")
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=1h")...)
	ctx := context.Background()

	// Split the miner's coins so the transactions do not chain more than
	// 25 unconfirmed transactions on one coin.
	split := map[string]int64{}
	for range 50 {
		a, err := node.NewAddress(ctx, regtest.MinerWallet, "")
		if err != nil {
			t.Fatal(err)
		}
		split[a] = 40_000_000
	}
	if _, err := node.SendMany(ctx, regtest.MinerWallet, split); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var ps []payment
	txids := make([]string, transactions)
	for i := range txids {
		outs := map[string]int64{}
		for range perTx {
			p := d.create("LTC", "0.001")
			ps = append(ps, p)
			outs[p.Address] = 100_000
		}
		txid, err := node.SendMany(ctx, regtest.MinerWallet, outs)
		if err != nil {
			t.Fatal(err)
		}
		txids[i] = txid
	}

	// The node's own rate on the same transactions.
	merchant := node.Client(regtest.MerchantWallet)
	nodeRate := rate(len(txids), func() {
		parallel(16, txids, func(txid string) {
			if _, err := merchant.GetTransaction(ctx, txid); err != nil {
				t.Error(err)
			}
		})
	})

	hints := make([]string, 0, transactions*duplicates)
	for range duplicates {
		hints = append(hints, txids...)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var refused atomic.Int64
	start := time.Now()
	parallel(64, hints, func(txid string) {
		req, _ := http.NewRequest("POST", d.url+"/notify/tx",
			strings.NewReader(`{"coin":"LTC","hash":"`+txid+`","wallet":"merchant"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+notifyToken)
		resp, err := client.Do(req)
		if err != nil {
			refused.Add(1)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			refused.Add(1)
		}
	})
	accepted := time.Since(start)
	if n := refused.Load(); n > 0 {
		t.Fatalf("%d of %d hints refused", n, len(hints))
	}
	var pending int
	waitFor(t, 2*time.Minute, func() bool {
		pending = 0
		for cursor := ""; ; {
			var page struct {
				Payments   []payment `json:"payments"`
				NextCursor *string   `json:"next_cursor"`
			}
			d.call("GET", "/payments?status=PENDING&limit=100"+cursor, "", &page)
			pending += len(page.Payments)
			if page.NextCursor == nil {
				break
			}
			cursor = "&cursor=" + *page.NextCursor
		}
		return pending == len(ps)
	}, func() string { return fmt.Sprintf("%d of %d payments PENDING", pending, len(ps)) })
	worked := time.Since(start)
	t.Logf("%d hints for %d transactions: accepted in %s (%.0f hints/s); all %d payments found after %s "+
		"(%.0f hints/s, %.0f transactions/s); node gettransaction at c=16: %.0f calls/s",
		len(hints), transactions, accepted.Round(time.Millisecond), float64(len(hints))/accepted.Seconds(),
		len(ps), worked.Round(time.Millisecond), float64(len(hints))/worked.Seconds(),
		float64(transactions)/worked.Seconds(), nodeRate)

	// Nothing counted twice: one output per payment.
	for _, i := range []int{0, len(ps) / 2, len(ps) - 1} {
		if p := d.get(ps[i].ID); len(p.Transactions) != 1 {
			t.Errorf("payment %s has %d outputs", p.ID, len(p.Transactions))
		}
	}
}

// rate runs f and returns n divided by its duration in seconds.
func rate(n int, f func()) float64 {
	start := time.Now()
	f()
	return float64(n) / time.Since(start).Seconds()
}

// parallel calls f on every item with at most n calls in flight.
func parallel(n int, items []string, f func(string)) {
	var wg sync.WaitGroup
	next := make(chan string)
	for range n {
		wg.Go(func() {
			for it := range next {
				f(it)
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}
