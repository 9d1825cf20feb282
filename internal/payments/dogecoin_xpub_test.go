package payments

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/xpub"
)

// Facts of the watch-only recording: the node imported /0/0 and /0/1 of
// the regtest key testKey and was paid 5 DOGE to /0/0.
const (
	dogeWatch0     = "n2HAowvGMjQpNQKJUmstZ5CyCWREbfdw7L"
	dogeWatch1     = "mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"
	dogeWatchTxID  = "f0eda24abf1bcfdfd5f28d20f1444a948af0a7e6b67afb0028b03f7ab116d698"
	dogeWatchBlock = "3571f4c9e70414728a3e6a51080e55dd313a21b8195eef08f2893dd808040740"
)

// TestDogecoinXPubShapes runs the derived-address path against the
// recorded Dogecoin Core 1.14.9 answers: the addresses derived in Go are the
// ones the real node watched, importmulti goes out as the recording's
// request did (one address per batch here, as the recorded answer has one
// result), and the payment is read with include_watchonly, without which
// the recorded node answers amount 0.
func TestDogecoinXPubShapes(t *testing.T) {
	var (
		imports []string
		stage   atomic.Value
	)
	stage.Store("gettransaction-watchonly-0conf")
	node, client := newDogeNode(t, func(method string, ps []json.RawMessage) (string, int) {
		switch method {
		case "getblockchaininfo":
			return "getblockchaininfo", 200
		case "getblock":
			if param(ps, 0) != dogeWatchBlock {
				return "", 0
			}
			// Synthesized from the recorded gettransaction (hash, time,
			// one confirmation); Dogecoin Core 1.14 does not print the
			// height there, so it is made up.
			return `{"result":{"hash":"` + dogeWatchBlock + `","confirmations":1,"height":102,"time":1795896876,` +
				`"previousblockhash":"0431169dcad3b414985e6e5c2070f6858c6ab2865d993687ba9d4f8fa726e965"},"error":null,"id":1}`, 200
		case "importmulti":
			imports = append(imports, "["+string(ps[0])+","+string(ps[1])+"]")
			return "importmulti-watchonly", 200
		case "gettransaction":
			if param(ps, 0) != dogeWatchTxID {
				return "", 0
			}
			if param(ps, 1) != "true" {
				return "gettransaction-watchonly-0conf-default", 200
			}
			return stage.Load().(string), 200
		}
		return "", 0
	})
	k, err := xpub.Parse("DOGE", testKey, "")
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(pgtest.NewPool(t), Config{
		Coins: []Coin{{Code: "DOGE", Node: client, Confirmations: 1, URIScheme: "dogecoin",
			Derived: &XPub{Key: k, Node: client}}},
		AddressPool: PoolConfig{Size: 2, LowWater: 1, Batch: 1},
	})
	ctx := context.Background()
	if err := svc.refill(ctx, svc.coins["DOGE"]); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`[[{"scriptPubKey":{"address":"` + dogeWatch0 + `"},"timestamp":"now","watchonly":true}],{"rescan":false}]`,
		`[[{"scriptPubKey":{"address":"` + dogeWatch1 + `"},"timestamp":"now","watchonly":true}],{"rescan":false}]`,
	}
	if strings.Join(imports, "\n") != strings.Join(want, "\n") {
		t.Fatalf("importmulti requests:\n%s\nwant:\n%s", strings.Join(imports, "\n"), strings.Join(want, "\n"))
	}
	p, err := svc.Create(ctx, CreateRequest{Coin: "DOGE", Amount: amt("5")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Address != dogeWatch0 {
		t.Fatalf("address %s, want the recorded /0/0 %s", p.Address, dogeWatch0)
	}
	for _, step := range []struct {
		fixture string
		status  Status
	}{{"gettransaction-watchonly-0conf", StatusPending}, {"gettransaction-watchonly-1conf", StatusPaid}} {
		stage.Store(step.fixture)
		if err := svc.ProcessTx(ctx, "DOGE", dogeWatchTxID); err != nil {
			t.Fatal(err)
		}
		got, err := svc.Get(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != step.status || got.Received != amt("5") {
			t.Fatalf("after %s: %s received %s, want %s received 5", step.fixture, got.Status, got.Received, step.status)
		}
	}
	for _, c := range node.callLog() {
		if strings.HasPrefix(c, "gettransaction ") && !strings.HasSuffix(c, " true") {
			t.Errorf("gettransaction without include_watchonly: %s", c)
		}
	}
	// With the pool empty of ready addresses, creation fails fast and
	// never asks the node's wallet (no getnewaddress is answered here).
	if _, err := svc.Create(ctx, CreateRequest{Coin: "DOGE", Amount: amt("1")}); err != nil {
		t.Fatalf("second payment: %v", err)
	}
	if _, err := svc.Create(ctx, CreateRequest{Coin: "DOGE", Amount: amt("1")}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("third payment with an empty pool: %v, want ErrNoAddress", err)
	}
}
