package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// transitions returns the payment's events after its created event as
// "FROM>TO" (with the type for events other than status changes), oldest
// first; it fails the test unless the first event is payment.created.
func (d *daemon) transitions(id string) []string {
	d.t.Helper()
	var r struct {
		Events []struct {
			Type           string `json:"type"`
			Status         string `json:"status"`
			PreviousStatus string `json:"previous_status"`
		} `json:"events"`
	}
	if code := d.call("GET", "/payments/"+id+"/events", "", &r); code != 200 {
		d.t.Fatalf("events of %s: %d", id, code)
	}
	if len(r.Events) == 0 || r.Events[0].Type != "payment.created" || r.Events[0].Status != "UNPAID" {
		d.t.Fatalf("events of %s: %+v, want payment.created to UNPAID first", id, r.Events)
	}
	var out []string
	for _, e := range r.Events[1:] {
		s := e.PreviousStatus + ">" + e.Status
		if e.Type != "payment.status_changed" {
			s = e.Type + ":" + s
		}
		out = append(out, s)
	}
	return out
}

// statusWebhooks returns the webhooks other than payment.created, failing
// the test unless each payment among them had exactly one payment.created
// webhook (sequence 1, to UNPAID).
func statusWebhooks(t *testing.T, events []map[string]any) []map[string]any {
	t.Helper()
	created := map[any]int{}
	var out []map[string]any
	for _, e := range events {
		if e["type"] != "payment.created" {
			out = append(out, e)
			continue
		}
		if e["sequence"] != float64(1) || e["status"] != "UNPAID" || e["previous_status"] != "" {
			t.Fatalf("created webhook %v, want sequence 1 from \"\" to UNPAID", e)
		}
		created[e["payment_id"]]++
	}
	for _, e := range events {
		if created[e["payment_id"]] != 1 {
			t.Fatalf("payment %v: %d created webhooks, want 1", e["payment_id"], created[e["payment_id"]])
		}
	}
	return out
}

// holdPartial polls the payment until done reports true, failing as soon as
// one reading is not PARTIAL with 0.6 received.
func holdPartial(t *testing.T, d *daemon, id string, timeout time.Duration, done func(p payment) bool, describe string) payment {
	t.Helper()
	var r struct {
		Payment struct {
			payment
			Received json.Number `json:"amount_received"`
		} `json:"payment"`
	}
	waitFor(t, timeout, func() bool {
		if code := d.call("GET", "/payments/"+id, "", &r); code != 200 {
			t.Fatalf("get %s: %d", id, code)
		}
		if p := r.Payment; p.Status != "PARTIAL" || p.Received.String() != "0.6" {
			t.Fatalf("payment %s went %s with %s received (transactions %+v), want PARTIAL with 0.6 at every step",
				id, p.Status, p.Received, p.Transactions)
		}
		return done(r.Payment.payment)
	}, func() string { return fmt.Sprintf("%s: transactions %+v", describe, r.Payment.Transactions) })
	return r.Payment.payment
}

// TestFeeBumpedPartialPaymentStaysPartial: the payer fee-bumps a 0.6-of-1
// payment. Through the real hooks, the block refresh and the catch-up loop,
// the payment is PARTIAL with 0.6 received at every reading, and the only
// event and webhook is UNPAID>PARTIAL.
func TestFeeBumpedPartialPaymentStaysPartial(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1s",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	p := d.create("LTC", "1")
	orig, err := node.Send(ctx, regtest.MinerWallet, p.Address, 60_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PARTIAL", 30*time.Second)
	repl, err := node.BumpFee(ctx, regtest.MinerWallet, orig)
	if err != nil {
		t.Fatal(err)
	}
	states := func(p payment) map[string]string {
		m := map[string]string{}
		for _, tx := range p.Transactions {
			m[tx.TxID] = tx.State
		}
		return m
	}
	holdPartial(t, d, p.ID, 30*time.Second, func(p payment) bool {
		s := states(p)
		return s[orig] == "conflicted" && s[repl] == "seen"
	}, "the replacement is not recorded")
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The replacement's confirmation and the replaced transaction's negative
	// depth may be recorded by different passes (the block hint and the
	// replacement's own hint race); what must hold at every reading is
	// PARTIAL with 0.6, and in the end both.
	holdPartial(t, d, p.ID, 30*time.Second, func(p payment) bool {
		replMined, origGone := false, false
		for _, tx := range p.Transactions {
			switch {
			case tx.TxID == repl && tx.Confirmations == 1:
				replMined = true
			case tx.TxID == orig && tx.State == "conflicted" && tx.Confirmations < 0:
				origGone = true
			}
		}
		return replMined && origGone
	}, "the replacement's confirmation and the replaced transaction's conflict are not both recorded")
	// Let a few more catch-ups run over the mined replacement.
	deadline := time.Now().Add(3 * time.Second)
	holdPartial(t, d, p.ID, 10*time.Second, func(payment) bool { return time.Now().After(deadline) }, "")
	if ev := d.transitions(p.ID); strings.Join(ev, ",") != "UNPAID>PARTIAL" {
		t.Fatalf("events = %v, want only UNPAID>PARTIAL", ev)
	}
	waitFor(t, 30*time.Second, func() bool { return len(recv.events()) >= 2 },
		func() string { return "no webhook" })
	for _, e := range statusWebhooks(t, recv.events()) {
		if e["previous_status"] != "UNPAID" || e["status"] != "PARTIAL" {
			t.Fatalf("webhook %v, want only UNPAID>PARTIAL", e)
		}
	}
}

// TestDeepReorgWhileDown: transientd is down while a reorg replaces the
// block its catch-up cursor points at, and a payment is mined on the new
// branch below the cursor's height (so its hook is never worked). After the
// restart the catch-up finds it, scanning from the fork point.
func TestDeepReorgWhileDown(t *testing.T) {
	node := startNode(t, "")
	db := pgtest.NewDatabase(t)
	d := startDaemon(t, append(coinEnv(node), "DATABASE_URL="+db, "CATCHUP_INTERVAL=1s", "NOTIFY_TOKEN=")...)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	p := d.create("LTC", "1")
	if _, err := node.Mine(ctx, 8); err != nil {
		t.Fatal(err)
	}
	tip, err := node.Client("").GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var height int64
	waitFor(t, 30*time.Second, func() bool {
		_ = pool.QueryRow(ctx, `SELECT block_height FROM chain_cursors WHERE coin = 'LTC'`).Scan(&height)
		return height == tip-5
	}, func() string { return fmt.Sprintf("cursor at %d, want %d", height, tip-5) })
	d.stop()

	first, err := node.Client("").GetBlockHash(ctx, height-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.InvalidateBlock(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Send(ctx, regtest.MinerWallet, p.Address, 100_000_000, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Mine(ctx, 12); err != nil {
		t.Fatal(err)
	}
	d.restart()
	d.waitStatus(p.ID, "PAID", 30*time.Second)
	if ev := d.transitions(p.ID); strings.Join(ev, ",") != "UNPAID>PAID" {
		t.Fatalf("events = %v, want UNPAID>PAID", ev)
	}
}

// TestZeroConfirmationsRefusedWhereOff: with LTC_ZERO_CONF=false a payment
// asking for 0 confirmations is refused with 400 naming the field, and one
// asking for 1 is created.
func TestZeroConfirmationsRefusedWhereOff(t *testing.T) {
	node := startNode(t, "")
	d := startDaemon(t, append(coinEnv(node), "LTC_ZERO_CONF=false", "CATCHUP_INTERVAL=1h")...)
	var r struct {
		Error struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
	}
	if code := d.call("POST", "/payments", `{"currency":"LTC","amount":"1","confirmations":0}`, &r); code != 400 ||
		r.Error.Code != "invalid_confirmations" || r.Error.Field != "confirmations" {
		t.Fatalf("confirmations 0: %d %+v, want 400 invalid_confirmations on confirmations", code, r)
	}
	if code := d.call("POST", "/payments", `{"currency":"LTC","amount":"1","confirmations":1}`, nil); code != 201 {
		t.Fatalf("confirmations 1: %d, want 201", code)
	}
}

// TestZeroConfPaymentTakenBack: on LTC (0-conf on by default) a payment
// asking for 0 confirmations is PAID while its transaction is in the
// mempool, and goes back to UNPAID, with its webhook, when a conflicting
// transaction is mined instead.
func TestZeroConfPaymentTakenBack(t *testing.T) {
	node := startNode(t, "")
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=1s", "NOTIFY_TOKEN=", "PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()
	var r struct {
		Payment payment `json:"payment"`
	}
	if code := d.call("POST", "/payments", `{"currency":"LTC","amount":"1","confirmations":0}`, &r); code != 201 {
		t.Fatalf("create with 0 confirmations: %d", code)
	}
	p := r.Payment
	txid, err := node.Send(ctx, regtest.MinerWallet, p.Address, 100_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	d.waitStatus(p.ID, "PAID", 30*time.Second)
	if _, err := node.DoubleSpend(ctx, regtest.MinerWallet, txid); err != nil {
		t.Fatal(err)
	}
	got := d.waitStatus(p.ID, "UNPAID", 30*time.Second)
	if len(got.Transactions) != 1 || got.Transactions[0].State != "conflicted" {
		t.Fatalf("transactions after the double spend: %+v", got.Transactions)
	}
	if ev := d.transitions(p.ID); strings.Join(ev, ",") != "UNPAID>PAID,PAID>UNPAID" {
		t.Fatalf("events = %v, want UNPAID>PAID,PAID>UNPAID", ev)
	}
	waitFor(t, 30*time.Second, func() bool { return len(recv.events()) >= 3 },
		func() string { return fmt.Sprintf("webhooks: %v", recv.events()) })
	var seq []string
	for _, e := range statusWebhooks(t, recv.events()) {
		seq = append(seq, fmt.Sprint(e["previous_status"], ">", e["status"]))
	}
	if s := strings.Join(seq, ","); s != "UNPAID>PAID,PAID>UNPAID" && s != "PAID>UNPAID,UNPAID>PAID" {
		t.Fatalf("webhooks = %v", seq)
	}
}
