package payments

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/pgtest"
)

// These tests replay what a real Bitcoin Core 28.4 said while a full-RBF
// replacement took back a payment that did not signal BIP 125
// (internal/coind/testdata/bitcoin-core-28.4): Litecoin Core 0.21 relays no
// such replacement, so only the recording shows it.

const btcFixtures = "bitcoin-core-28.4/"

// Facts of the recording.
const (
	btcOrder42   = "bcrt1qyykjskcn04eqse49ng93w8uv8rqkzu3wetpfj7" // 0.1 BTC in btcReplaced
	btcReplaced  = "06f1aaee778915767055be85798e15c7cb4a33c0c7a9623ac8264684c8bdbb40"
	btcTipBefore = "3e617e45f896f33b9b990097c7008ca544d20407d55ec15a08fd566961a589c7" // height 101
	btcMined     = "459405e0fd73367e0adc32f2d49c51d7d88304f113ce5f148fda3801dbbe87a3" // height 102, holds the replacement
)

// btcStage is what the recorded node answers at one moment of the story.
type btcStage struct {
	tx     string // gettransaction of btcReplaced
	inPool bool   // getmempoolentry of btcReplaced
	list   string // listsinceblock
}

var (
	btcSent     = btcStage{btcFixtures + "gettransaction-receive-0conf-nonsignalling", true, btcFixtures + "listsinceblock-0conf"}
	btcReplaceU = btcStage{btcFixtures + "gettransaction-after-fullrbf-replacement-unmined", false, btcFixtures + "listsinceblock-after-fullrbf-replacement-unmined"}
	btcReplaceM = btcStage{btcFixtures + "gettransaction-after-fullrbf-replacement-mined", false, btcFixtures + "listsinceblock-after-fullrbf-replacement-mined"}
	// btcDropped is synthesized from the recording: the same transaction
	// still at 0 confirmations without conflicts, but gone from the mempool
	// (evicted, or replaced on a node that does not report
	// mempoolconflicts).
	btcDropped = btcStage{btcFixtures + "gettransaction-receive-0conf-nonsignalling", false, btcFixtures + "listsinceblock-0conf"}
)

// btcNode is a fake Bitcoin Core 28.4 answering from the stage set last.
func btcNode(t *testing.T, stage *btcStage) *coind.Client {
	t.Helper()
	node, client := newDogeNode(t, func(method string, ps []json.RawMessage) (string, int) {
		switch {
		case method == "gettransaction" && param(ps, 0) == btcReplaced:
			return stage.tx, 200
		case method == "getmempoolentry" && param(ps, 0) == btcReplaced && stage.inPool:
			// Synthesized: the recording has only the refusal.
			return `{"result":{"vsize":141,"weight":561,"time":1795897973},"error":null,"id":1}`, 200
		case method == "getmempoolentry" && param(ps, 0) == btcReplaced:
			return btcFixtures + "getmempoolentry-replaced-error", 500
		case method == "listsinceblock":
			return stage.list, 200
		case method == "getblock" && param(ps, 0) == btcTipBefore:
			// Synthesized from getblockchaininfo.json's story: the tip
			// before the payment, at height 101.
			return `{"result":{"hash":"` + btcTipBefore + `","confirmations":1,"height":101},"error":null,"id":1}`, 200
		case method == "getblock" && param(ps, 0) == btcMined:
			// Synthesized: the block that mined the replacement.
			return `{"result":{"hash":"` + btcMined + `","confirmations":1,"height":102},"error":null,"id":1}`, 200
		}
		return "", 0
	})
	node.mu.Lock()
	node.networkInfo = btcFixtures + "getnetworkinfo"
	node.mu.Unlock()
	return client
}

// btcPayment is a Service with coin BTC on node and one payment of 0.1 BTC
// for the recording's address, asking for confs confirmations.
func btcPayment(t *testing.T, node *coind.Client, zeroConf bool, confs int64) (*Service, *Payment) {
	t.Helper()
	svc := NewService(pgtest.NewPool(t), Config{Coins: []Coin{{Code: "BTC", Node: node, Confirmations: 1, ZeroConf: zeroConf, URIScheme: "bitcoin"}}})
	p := &Payment{ID: newID(), Coin: "BTC", Amount: amt("0.1"), Address: btcOrder42, Status: StatusUnpaid,
		Confirmations: confs, SettleConfirmations: 1, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := svc.insert(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	return svc, p
}

func expectStatus(t *testing.T, svc *Service, p *Payment, status Status, received Amount) {
	t.Helper()
	got, err := svc.Get(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != status || got.Received != received {
		t.Fatalf("payment: %s received %s, want %s received %s", got.Status, got.Received, status, received)
	}
}

func eventsOf(t *testing.T, svc *Service, p *Payment) []string {
	t.Helper()
	rows, err := svc.pool.Query(context.Background(), `
		SELECT previous_status || '>' || status FROM payment_events WHERE payment_id = $1 ORDER BY sequence`, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestZeroConfTakenBackByFullRBF: a 0-confirmation payment on a coin that
// accepts them is PAID, and goes back to UNPAID, with its event, as soon as
// the node shows the replacement (mempoolconflicts), whichever path reads it;
// it stays there once the replacement is mined (confirmations -1, no
// details).
func TestZeroConfTakenBackByFullRBF(t *testing.T) {
	paths := []struct {
		name string
		look func(svc *Service) error
	}{
		{"block refresh", func(svc *Service) error { return svc.RefreshCoin(context.Background(), "BTC") }},
		{"catch-up", func(svc *Service) error { return svc.CatchUp(context.Background(), "BTC") }},
		{"hint", func(svc *Service) error { return svc.ProcessTx(context.Background(), "BTC", btcReplaced) }},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			stage := btcSent
			svc, p := btcPayment(t, btcNode(t, &stage), true, 0)
			ctx := context.Background()
			if _, err := svc.pool.Exec(ctx, `INSERT INTO chain_cursors VALUES ('BTC', $1, 101, now())`, btcTipBefore); err != nil {
				t.Fatal(err)
			}
			if err := svc.ProcessTx(ctx, "BTC", btcReplaced); err != nil {
				t.Fatal(err)
			}
			expectStatus(t, svc, p, StatusPaid, amt("0.1"))

			stage = btcReplaceU
			if err := path.look(svc); err != nil {
				t.Fatal(err)
			}
			expectStatus(t, svc, p, StatusUnpaid, 0)
			stage = btcReplaceM
			for _, look := range paths {
				if err := look.look(svc); err != nil {
					t.Fatal(err)
				}
				expectStatus(t, svc, p, StatusUnpaid, 0)
			}
			if got := eventsOf(t, svc, p); len(got) != 3 || got[0] != ">UNPAID" || got[1] != "UNPAID>PAID" || got[2] != "PAID>UNPAID" {
				t.Fatalf("events = %v, want [>UNPAID UNPAID>PAID PAID>UNPAID]", got)
			}
		})
	}
}

// TestZeroConfDroppedFromMempool: on a coin that accepts 0-confirmation
// payments, an unconfirmed payment the node no longer holds in its mempool
// counts for nothing, although the wallet still lists it at 0
// confirmations without a conflict.
func TestZeroConfDroppedFromMempool(t *testing.T) {
	stage := btcSent
	svc, p := btcPayment(t, btcNode(t, &stage), true, 0)
	ctx := context.Background()
	if err := svc.ProcessTx(ctx, "BTC", btcReplaced); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, svc, p, StatusPaid, amt("0.1"))
	stage = btcDropped
	if err := svc.RefreshCoin(ctx, "BTC"); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, svc, p, StatusUnpaid, 0)
	stage = btcSent // back in the mempool (rebroadcast)
	if err := svc.RefreshCoin(ctx, "BTC"); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, svc, p, StatusPaid, amt("0.1"))
}

// TestReplacedPaymentCountsForNothingWithoutZeroConf: where 0-conf is off a
// payment waits for a confirmation, and a replacement the wallet cannot see
// still takes back what it counted as received.
func TestReplacedPaymentCountsForNothingWithoutZeroConf(t *testing.T) {
	stage := btcSent
	svc, p := btcPayment(t, btcNode(t, &stage), false, 1)
	ctx := context.Background()
	if err := svc.ProcessTx(ctx, "BTC", btcReplaced); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, svc, p, StatusPending, amt("0.1"))
	stage = btcReplaceU
	if err := svc.RefreshCoin(ctx, "BTC"); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, svc, p, StatusUnpaid, 0)
}

// TestZeroConfirmationsRefusedWhereOff: a payment may ask for 0
// confirmations only on a coin that accepts them.
func TestZeroConfirmationsRefusedWhereOff(t *testing.T) {
	stage := btcSent
	svc, _ := btcPayment(t, btcNode(t, &stage), false, 1)
	zero := int64(0)
	_, err := svc.Create(context.Background(), CreateRequest{Coin: "BTC", Amount: amt("0.1"), Confirmations: &zero})
	var e *Error
	if !errors.As(err, &e) || e.Field != "confirmations" || e.Code != CodeInvalidConfirmations || !errors.Is(err, ErrInvalid) {
		t.Fatalf("create with 0 confirmations: %v, want an invalid_confirmations error on field confirmations", err)
	}
	if svc.ZeroConf("BTC") {
		t.Fatalf("ZeroConf(BTC) = %v", svc.ZeroConf("BTC"))
	}
}
