package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/xpub"
)

// testKey is the regtest key of the Dogecoin fixtures.
const testKey = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"

// watchOnlyEnv is nodeEnv on a new wallet of the shared node that cannot
// hold private keys, with LTC's addresses derived from testKey. The wallet
// name gets a suffix of its own: the node outlives each test.
func watchOnlyEnv(t *testing.T, wallet string) map[string]string {
	t.Helper()
	node := sharedNode(t)
	wallet = fmt.Sprintf("%s-%d", wallet, time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Client("").Call(ctx, "createwallet", []any{wallet, true, true}, nil); err != nil {
		t.Fatalf("createwallet %s: %v", wallet, err)
	}
	env := nodeEnv(t)
	env["LTC_RPC_URL"] = node.URL(wallet)
	env["LTC_XPUB"] = testKey
	env["LTC_ADDRESS_TYPE"] = "p2wpkh"
	return env
}

// TestServeWithXPub runs serve with an extended public key on a wallet
// without private keys: the pool fills with derived addresses the node
// watches, a payment gets /0/0, /readyz checks the watch, /metrics shows
// the gap, and xpub status reports the key's use.
func TestServeWithXPub(t *testing.T) {
	env := watchOnlyEnv(t, "xpub-serve")
	env["LISTEN_ADDR"] = closedAddr(t)
	env["METRICS_ADDR"] = closedAddr(t)
	env["ADDRESS_POOL_SIZE"] = "5"
	stderr, cancel, done := serveInProcess(env)
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Errorf("serve did not stop")
		}
	}()
	base, metricsBase := "http://"+env["LISTEN_ADDR"], "http://"+env["METRICS_ADDR"]
	body := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 30*time.Second, func() bool {
		m := body(metricsBase + "/metrics")
		return strings.Contains(m, `transient_address_pool_ready{coin="LTC"} 5`) && strings.Contains(m, `transient_xpub_gap{coin="LTC"} 0`)
	}, func() string { return "the pool and the gap did not show on /metrics:\n" + stderr.String() })

	req, _ := http.NewRequest(http.MethodPost, base+"/payments", strings.NewReader(`{"currency":"LTC","amount":"0.1"}`))
	req.Header.Set("Authorization", "Bearer "+env["API_KEYS"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Payment struct {
			Address string `json:"payment_address"`
		} `json:"payment"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	k, _ := xpub.Parse("LTC", testKey, xpub.P2WPKH)
	want, _ := k.Address("regtest", 0)
	if resp.StatusCode != 201 || created.Payment.Address != want {
		t.Fatalf("POST /payments: %d address %q, want 201 with /0/0 %s", resp.StatusCode, created.Payment.Address, want)
	}
	ready := body(base + "/readyz")
	if !strings.Contains(ready, `"name":"watch:LTC","ok":true`) {
		t.Fatalf("/readyz lacks a passing watch check: %s", ready)
	}

	var sts []payments.KeyStatus
	out := cli(t, env, "xpub", "status", "--json").must(t, "xpub status")
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		t.Fatalf("xpub status: %v\n%s", err, out)
	}
	if len(sts) != 1 || sts[0].Coin != "LTC" || sts[0].HighestHandedOut != 0 || sts[0].HighestPaid != -1 || sts[0].Gap != 1 || sts[0].KeyID != k.ID() {
		t.Fatalf("xpub status = %+v, want LTC handed out up to 0, none paid, gap 1", sts)
	}
	text := cli(t, env, "xpub", "status").must(t, "xpub status")
	if !strings.Contains(text, "LTC key "+k.ID()+": next index") || !strings.Contains(text, "gap 1") {
		t.Fatalf("xpub status text: %q", text)
	}
	if logs := stderr.String(); strings.Contains(logs, testKey[:30]) {
		t.Fatalf("the log shows the extended public key:\n%s", logs)
	}
}

// TestServeRefusesKeys checks that keys transientd cannot use stop it
// before it serves, saying which and why.
func TestServeRefusesKeys(t *testing.T) {
	for _, tt := range []struct {
		name, key, want string
	}{
		// A mainnet key on the regtest node.
		{"other network", "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
			"LTC_XPUB: a key for another network: a zpub key is a mainnet key but the LTC node runs regtest"},
		{"private key", "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK",
			"LTC_XPUB: an extended private key"},
		{"dogecoin key", "dgub8rjvUmFc6cqR6NRBEj2FBZCHUDUrykPyv24Vea6bCsPex5PzNFrRtr4KN37XgwuVzzC2MikJRW2Ddcp99Ehsqp2iaU4eerNCJVruKxz6Gci",
			"LTC_XPUB: a key for another coin: a dgub key is for DOGE, not LTC"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := nodeEnv(t)
			env["LISTEN_ADDR"] = closedAddr(t)
			env["LTC_XPUB"] = tt.key
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := cliContext(ctx, t, env, "serve")
			if r.code() != 1 || r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want 1 with %q", r.code(), r.err, tt.want)
			}
			if strings.Contains(r.err.Error(), tt.key[:20]) {
				t.Fatalf("the refusal repeats the key: %v", r.err)
			}
		})
	}
}
