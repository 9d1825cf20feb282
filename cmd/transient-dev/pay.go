package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/regtest"
)

// callTimeout bounds each call pay and mine make.
const callTimeout = 30 * time.Second

// pay sends coins from the miner wallet to a payment's address: the amount
// given, or what the payment still lacks (amount_due).
func pay(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) < 1 || len(args) > 2 || args[0] == "" {
		return errors.New("usage: transient-dev pay PAYMENT [AMOUNT] (make pay PAYMENT=<id> [AMOUNT=0.5])")
	}
	st, err := runningState()
	if err != nil {
		return err
	}
	p, err := fetchPayment(ctx, st, args[0])
	if err != nil {
		return err
	}
	amount, err := coind.ParseAmount(p.AmountDue.String())
	if err != nil {
		return fmt.Errorf("payment %s: amount_due %q: %w", p.ID, p.AmountDue, err)
	}
	if len(args) == 2 {
		if amount, err = coind.ParseAmount(args[1]); err != nil || amount <= 0 {
			return fmt.Errorf("AMOUNT=%q: want a positive amount such as 0.5", args[1])
		}
	} else if amount <= 0 {
		return fmt.Errorf("payment %s (%s) has nothing left to pay; to pay more anyway: make pay PAYMENT=%s AMOUNT=0.1", p.ID, p.Status, p.ID)
	}
	miner, err := coind.New(coind.Config{URL: st.MinerRPCURL, Timeout: callTimeout})
	if err != nil {
		return err
	}
	defer miner.Close()
	txid, err := miner.SendToAddress(ctx, p.Address, amount)
	if err != nil {
		return nodeError("send from the miner wallet", err)
	}
	fmt.Fprintf(stdout, "sent %s %s to %s (payment %s, was %s)\ntxid %s\nconfirm it: make mine BLOCKS=%d\n",
		coind.FormatAmount(amount), p.Currency, p.Address, p.ID, p.Status, txid, max(p.ConfirmationsRequired, 1))
	return nil
}

// payment is the part of a payment's JSON that pay needs.
type payment struct {
	ID                    string      `json:"id"`
	Status                string      `json:"status"`
	Currency              string      `json:"currency"`
	Address               string      `json:"payment_address"`
	AmountDue             json.Number `json:"amount_due"`
	ConfirmationsRequired int         `json:"confirmations_required"`
}

// fetchPayment GETs a payment from the running transientd.
func fetchPayment(ctx context.Context, st state, id string) (*payment, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.TransientdURL+"/payments/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+st.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("transientd at %s does not answer (%v): is make run still running?", st.TransientdURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /payments/%s: HTTP %d: %s", id, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// The payment comes wrapped ({"success":true,"payment":{...}}) or bare.
	var reply struct {
		payment
		Payment *payment `json:"payment"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("GET /payments/%s: %w", id, err)
	}
	p := reply.payment
	if reply.Payment != nil {
		p = *reply.Payment
	}
	if p.Address == "" {
		return nil, fmt.Errorf("GET /payments/%s: no payment_address in %s", id, body)
	}
	return &p, nil
}

// mine mines n blocks (default 1) to the miner wallet.
func mine(ctx context.Context, args []string, stdout io.Writer) error {
	n := 1
	if len(args) > 1 {
		return errors.New("usage: transient-dev mine [N] (make mine [BLOCKS=1])")
	}
	if len(args) == 1 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("BLOCKS=%q: want a positive number of blocks", args[0])
		}
	}
	st, err := runningState()
	if err != nil {
		return err
	}
	node, err := coind.New(coind.Config{URL: st.NodeRPCURL, Timeout: callTimeout})
	if err != nil {
		return err
	}
	defer node.Close()
	miner, err := coind.New(coind.Config{URL: st.MinerRPCURL, Timeout: callTimeout})
	if err != nil {
		return err
	}
	defer miner.Close()

	height, err := node.GetBlockCount(ctx)
	if err != nil {
		return nodeError("read the block height", err)
	}
	if height+int64(n) > regtest.MaxHeight {
		return fmt.Errorf("the dev chain is at height %d: %d more blocks would pass %d, beyond which Litecoin's MWEB makes regtest mining fail; restart make run for a new chain",
			height, n, regtest.MaxHeight)
	}
	addr, err := miner.GetNewAddress(ctx, "mining")
	if err != nil {
		return nodeError("new miner address", err)
	}
	var hashes []string
	if err := node.Call(ctx, "generatetoaddress", []any{n, addr}, &hashes); err != nil {
		return nodeError("mine", err)
	}
	fmt.Fprintf(stdout, "mined %d block(s); height %d, tip %s\n", len(hashes), height+int64(len(hashes)), hashes[len(hashes)-1])
	return nil
}

// nodeError explains a failed node call, pointing at make run when the node
// does not answer.
func nodeError(what string, err error) error {
	if errors.Is(err, coind.ErrUnavailable) {
		return fmt.Errorf("%s: litecoind does not answer (%w): is make run still running?", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
