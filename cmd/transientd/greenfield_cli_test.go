package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/transient-gateway/transient/internal/greenfield"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/regtest"
)

// TestRescanSendsGreenfieldWebhooks pays a Greenfield invoice that no
// daemon watches and finds the payment with transientd rescan: the status
// change it makes must queue the invoice's webhook deliveries as the
// daemon would, and none with GREENFIELD_ENABLED=false.
func TestRescanSendsGreenfieldWebhooks(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("enabled=%t", enabled), func(t *testing.T) {
			node := sharedNode(t)
			env := nodeEnv(t)
			if !enabled {
				env["GREENFIELD_ENABLED"] = "false"
			}
			ctx := context.Background()
			pool := must(pgxpool.New(ctx, env["DATABASE_URL"]))
			defer pool.Close()
			pay := payments.NewService(pool, payments.Config{Coins: []payments.Coin{{Code: "LTC",
				Node: node.Client(regtest.MerchantWallet), Confirmations: 1, URIScheme: "litecoin", Wallet: regtest.MerchantWallet}}})
			gf := greenfield.New(greenfield.Config{Pool: pool, Payments: pay, CompleteConfirmations: map[string]int64{"LTC": 1}})
			st := must(gf.Stores().CreateStore(ctx, "Shop", "LTC", nil))
			if _, err := pool.Exec(ctx, `
				INSERT INTO greenfield_webhooks (id, store_id, url, secret, enabled, automatic_redelivery, everything, created_at)
				VALUES ('aaaaaaaaaaaaaaaaaaaaaaaa', $1, 'https://shop.example/hook', 'secret', true, true, true, $2)`,
				st.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			inv := must(gf.CreateInvoice(ctx, st, greenfield.InvoiceRequest{Amount: decimal.RequireFromString("0.3"), Currency: "LTC"}))
			if out, _ := payUnseenAndRescan(t, env, "LTC", inv.Payment.Address, 30_000_000); out.StatusChanges != 1 {
				t.Fatalf("rescan = %+v, want one status change", out)
			}
			rows := must(pool.Query(ctx, `
				SELECT g.type FROM greenfield_webhook_deliveries g
				JOIN webhook_deliveries o ON o.event_id = g.event_id AND o.kind = 'greenfield_webhook' AND o.body = g.body
				WHERE g.payment_id = $1 ORDER BY g.seq`, inv.Payment.ID))
			types := must(pgx.CollectRows(rows, pgx.RowTo[string]))
			var want []string
			if enabled {
				want = []string{greenfield.TypeInvoiceReceivedPayment, greenfield.TypeInvoiceProcessing,
					greenfield.TypeInvoicePaymentSettled, greenfield.TypeInvoiceSettled}
			}
			if !slices.Equal(types, want) {
				t.Errorf("queued webhook deliveries %v, want %v", types, want)
			}
		})
	}
}
