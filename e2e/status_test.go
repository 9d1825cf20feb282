package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// Statuses that must be right when a shop relies on them: expiry by when the
// money arrived, deadlines that look at the node first, deep confirmations.

// statusPayment is the part of the payment object these tests read.
type statusPayment struct {
	Status       string `json:"status"`
	PaidLate     bool   `json:"paid_late"`
	Settled      bool   `json:"settled"`
	Transactions []struct {
		Confirmations int64     `json:"confirmations"`
		ReceivedAt    time.Time `json:"received_at"`
		FirstSeenAt   time.Time `json:"first_seen_at"`
	} `json:"transactions"`
}

func (d *daemon) status(id string) statusPayment {
	d.t.Helper()
	var r struct {
		Payment statusPayment `json:"payment"`
	}
	if code := d.call("GET", "/payments/"+id, "", &r); code != 200 {
		d.t.Fatalf("get %s: %d", id, code)
	}
	return r.Payment
}

// createWith creates a payment from a JSON body and returns its id and
// address.
func (d *daemon) createWith(body string) (id, address string) {
	d.t.Helper()
	var r struct {
		Payment payment `json:"payment"`
	}
	if code := d.call("POST", "/payments", body, &r); code != 201 {
		d.t.Fatalf("create %s: %d", body, code)
	}
	return r.Payment.ID, r.Payment.Address
}

// transitions returns the webhooks received so far for id as
// "TYPE:FROM>TO" by their sequence (deliveries are not ordered), the type
// left out for status changes.
func (r *receiver) transitions(id string) map[int]string {
	out := map[int]string{}
	for _, e := range r.events() {
		if e["payment_id"] != id {
			continue
		}
		seq, _ := e["sequence"].(float64)
		s := fmt.Sprint(e["previous_status"], ">", e["status"])
		if e["type"] != "payment.status_changed" {
			s = fmt.Sprint(e["type"], ":", s)
		}
		out[int(seq)] = s
	}
	return out
}

// waitTransitions waits until the webhooks for id are exactly the
// payment's created event (sequence 1) followed by want, in the order of
// their sequence, and fails at once on any other (a wrong status on the way
// shows up here).
func (r *receiver) waitTransitions(t *testing.T, id string, want ...string) {
	t.Helper()
	want = append([]string{"payment.created:>UNPAID"}, want...)
	var got map[int]string
	waitFor(t, 30*time.Second, func() bool {
		got = r.transitions(id)
		for seq, tr := range got {
			if seq < 1 || seq > len(want) || want[seq-1] != tr {
				t.Fatalf("webhooks by sequence %v, want %v", got, want)
			}
		}
		return len(got) == len(want)
	}, func() string { return fmt.Sprintf("webhooks by sequence %v, want %v", got, want) })
}

// TestPaidInTimeFoundAtTheDeadline pays 10 s before the expiry and loses
// the walletnotify (no hooks; the catch-up loop an hour away): the deadline
// job must find the payment at the node and make it PENDING, then PAID,
// never EXPIRED.
func TestPaidInTimeFoundAtTheDeadline(t *testing.T) {
	node := startNode(t, "")
	recv := startReceiver(t)
	db := pgtest.NewDatabase(t)
	d := startDaemon(t, append(coinEnv(node), "CATCHUP_INTERVAL=1h", "DEADLINE_INTERVAL=1s",
		"DATABASE_URL="+db, "PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()
	waitStartCatchUp(t, db)

	id, address := d.createWith(`{"currency":"LTC","amount":"0.5","expires_in":12}`)
	if _, err := node.Send(ctx, regtest.MinerWallet, address, 50_000_000, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 40*time.Second, func() bool { return d.status(id).Status != "UNPAID" },
		func() string { return "still UNPAID after the expiry" })
	p := d.status(id)
	if p.Status != "PENDING" || p.PaidLate {
		t.Fatalf("status %s paid_late %t, want PENDING, not late", p.Status, p.PaidLate)
	}
	if tx := p.Transactions[0]; !tx.ReceivedAt.Before(tx.FirstSeenAt.Add(-5 * time.Second)) {
		t.Errorf("received_at %s is not the node's arrival, well before first_seen_at %s", tx.ReceivedAt, tx.FirstSeenAt)
	}
	hashes, err := node.Mine(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	d.hint("block", hashes[1])
	d.waitStatus(id, "PAID", 30*time.Second)
	recv.waitTransitions(t, id, "UNPAID>PENDING", "PENDING>PAID")
}

// TestPaidInTimeFoundAfterRestart pays 20 s before the expiry while
// transientd is down (its walletnotify is lost) and starts it again after
// the expiry: the deadline and catch-up jobs both run at start, in no set
// order, and the payment must come out PENDING, then PAID, never EXPIRED.
func TestPaidInTimeFoundAfterRestart(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1h", "DEADLINE_INTERVAL=1s",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	id, address := d.createWith(`{"currency":"LTC","amount":"0.5","expires_in":20}`)
	d.stop()
	if _, err := node.Send(ctx, regtest.MinerWallet, address, 50_000_000, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(21 * time.Second) // past the expiry, on every clock here
	d.restart()
	waitFor(t, 30*time.Second, func() bool { return d.status(id).Status != "UNPAID" },
		func() string { return "still UNPAID" })
	if p := d.status(id); p.Status != "PENDING" || p.PaidLate {
		t.Fatalf("status %s paid_late %t, want PENDING, not late", p.Status, p.PaidLate)
	}
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(id, "PAID", 30*time.Second)
	recv.waitTransitions(t, id, "UNPAID>PENDING", "PENDING>PAID")
}

// TestPaidAfterExpiryBeforeDeadlineJob pays 2 s after the expiry with the
// deadline job an hour away: the hook's observation must make the payment
// EXPIRED and paid late, never PENDING or PAID.
func TestPaidAfterExpiryBeforeDeadlineJob(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1h", "DEADLINE_INTERVAL=1h",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	id, address := d.createWith(`{"currency":"LTC","amount":"0.5","expires_in":2}`)
	time.Sleep(4 * time.Second) // the node's time is whole seconds
	if _, err := node.Send(ctx, regtest.MinerWallet, address, 50_000_000, false); err != nil {
		t.Fatal(err)
	}
	recv.waitTransitions(t, id, "UNPAID>EXPIRED", "payment.paid_late:EXPIRED>EXPIRED")
	if p := d.status(id); p.Status != "EXPIRED" || !p.PaidLate {
		t.Fatalf("status %s paid_late %t, want EXPIRED and late", p.Status, p.PaidLate)
	}
	if _, err := node.Mine(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		p := d.status(id)
		return len(p.Transactions) == 1 && p.Transactions[0].Confirmations == 2
	}, func() string { return "the block refresh did not reach the payment" })
	if p := d.status(id); p.Status != "EXPIRED" {
		t.Fatalf("after 2 confirmations: %s, want EXPIRED", p.Status)
	}
	recv.waitTransitions(t, id, "UNPAID>EXPIRED", "payment.paid_late:EXPIRED>EXPIRED")
}

// TestConfirmedUnrefreshedNotInvalid: a PENDING payment is mined, but
// the block's hook is lost (no hooks; the catch-up loop an hour away), and
// its monitoring window has passed by the stored facts. The deadline job
// must read the node first: PAID, never INVALID.
func TestConfirmedUnrefreshedNotInvalid(t *testing.T) {
	node := startNode(t, "")
	recv := startReceiver(t)
	db := pgtest.NewDatabase(t)
	// 1 confirmation at 2.5 minutes a block fits a window of 150 s.
	d := startDaemon(t, "COINS=LTC", "LTC_RPC_URL="+node.URL(regtest.MerchantWallet), "LTC_CONFIRMATIONS=1",
		"MONITORING_WINDOW=150s", "DATABASE_URL="+db, "CATCHUP_INTERVAL=1h", "DEADLINE_INTERVAL=1s",
		"PAYMENT_WEBHOOK_URL="+recv.url)
	ctx := context.Background()
	waitStartCatchUp(t, db)

	id, address := d.createWith(`{"currency":"LTC","amount":"0.5"}`)
	txid, err := node.Send(ctx, regtest.MinerWallet, address, 50_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	d.hint("tx", txid)
	d.waitStatus(id, "PENDING", 30*time.Second)
	if _, err := node.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Stand in for the 150 s the payment would wait: its window started
	// 10 minutes ago by the database's clock.
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE payments SET pending_since = now() - interval '10 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(id, "PAID", 30*time.Second)
	recv.waitTransitions(t, id, "UNPAID>PENDING", "PENDING>PAID")
}

// TestConfirmationsPastTheWindowRefused: a payment may not ask for more
// confirmations than its coin makes within the monitoring window, and
// transientd does not start with such a default.
func TestConfirmationsPastTheWindowRefused(t *testing.T) {
	node := startNode(t, "")
	d := startDaemon(t, coinEnv(node)...) // window 24 h: at most 576 on LTC
	var r struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if code := d.call("POST", "/payments", `{"currency":"LTC","amount":"1","confirmations":577}`, &r); code != 400 ||
		r.Error.Code != "invalid_confirmations" || r.Error.Field != "confirmations" || !strings.Contains(r.Error.Message, "at most 576") {
		t.Fatalf("577 confirmations: %d %+v", code, r.Error)
	}
	if id, _ := d.createWith(`{"currency":"LTC","amount":"1","confirmations":576}`); id == "" {
		t.Fatal("576 confirmations refused")
	}

	out, err := runTransientd(t, "COINS=LTC", "LTC_RPC_URL="+node.URL(regtest.MerchantWallet), "LTC_CONFIRMATIONS=600",
		"MONITORING_WINDOW=1h", "DATABASE_URL="+pgtest.NewDatabase(t), "API_KEYS="+apiKey)
	if err == nil || !strings.Contains(out, "LTC_CONFIRMATIONS (600)") || !strings.Contains(out, "MONITORING_WINDOW") {
		t.Fatalf("transientd with LTC_CONFIRMATIONS=600 and a 1 h window: err %v, output:\n%s", err, out)
	}
}

// TestDeepConfirmationsFollowed: a payment asking for 105 confirmations
// is followed past 100 through real blocknotify hooks: PENDING at 104,
// PAID and settled at 105 (its settle depth, after which it is no longer
// read), never INVALID.
func TestDeepConfirmationsFollowed(t *testing.T) {
	addr := freeAddr(t)
	node := startNode(t, "http://"+addr)
	recv := startReceiver(t)
	d := startDaemon(t, append(coinEnv(node), "LISTEN_ADDR="+addr, "CATCHUP_INTERVAL=1h",
		"PAYMENT_WEBHOOK_URL="+recv.url)...)
	ctx := context.Background()

	id, address := d.createWith(`{"currency":"LTC","amount":"0.5","confirmations":105}`)
	if _, err := node.Send(ctx, regtest.MinerWallet, address, 50_000_000, false); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(id, "PENDING", 30*time.Second)
	confs := int64(0)
	for _, step := range []struct {
		blocks  int
		status  string
		settled bool
	}{{1, "PENDING", false}, {99, "PENDING", false}, {4, "PENDING", false}, {1, "PAID", true}} {
		// A few blocks a call: each block runs blocknotify, and a long
		// generatetoaddress outlasts the client's timeout on a busy machine.
		for left := step.blocks; left > 0; left -= 10 {
			if _, err := node.Mine(ctx, min(left, 10)); err != nil {
				t.Fatal(err)
			}
		}
		confs += int64(step.blocks)
		var p statusPayment
		waitFor(t, 60*time.Second, func() bool {
			p = d.status(id)
			return len(p.Transactions) == 1 && p.Transactions[0].Confirmations == confs
		}, func() string { return fmt.Sprintf("at %d confirmations: %+v", confs, p) })
		if p.Status != step.status || p.Settled != step.settled {
			t.Fatalf("at %d confirmations: status %s settled %t, want %s %t", confs, p.Status, p.Settled, step.status, step.settled)
		}
	}
	recv.waitTransitions(t, id, "UNPAID>PENDING", "PENDING>PAID")
}

// runTransientd runs transientd with only env (and PATH) until it exits,
// for at most 30 s, and returns what it printed.
func runTransientd(t *testing.T, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("transientd"))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TRANSIENT_ENV_FILE=/nonexistent",
		"LISTEN_ADDR=" + freeAddr(t)}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitStartCatchUp waits until the catch-up scan that transientd runs at
// start has finished, so that with the loop slowed down nothing but the
// test's own hints (and the deadline job) observes what the test pays.
func waitStartCatchUp(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The catch-up at start ends by storing the chain cursor.
	var cursors int
	waitFor(t, 30*time.Second, func() bool {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM chain_cursors WHERE coin = 'LTC'`).Scan(&cursors); err != nil {
			t.Fatal(err)
		}
		return cursors > 0
	}, func() string { return "no chain cursor: the catch-up at start has not finished" })
}
