package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/greenfield"
)

// TestStoresAndGreenfieldKeys exercises stores create and list and apikeys
// create --store on a real database, and checks the key against the store
// the daemon's Greenfield API uses.
func TestStoresAndGreenfieldKeys(t *testing.T) {
	env := dbEnv(t)
	var st storeOut
	if err := json.Unmarshal([]byte(cli(t, env, "stores", "create", "--name", "Woo shop", "--json").must(t, "stores create")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.ID) != 44 || st.Name != "Woo shop" || st.DefaultCurrency != "USD" || len(st.Coins) != 0 {
		t.Fatalf("created store %+v", st)
	}
	text := cli(t, env, "stores", "create", "--name", "LTC only", "--default-currency", "ltc", "--coin", "LTC")
	second := strings.TrimSpace(text.must(t, "stores create"))
	if len(second) != 44 || !strings.Contains(text.stderr, "apikeys create --store "+second) {
		t.Fatalf("text create: %q / %q", text.stdout, text.stderr)
	}
	var list []storeOut
	if err := json.Unmarshal([]byte(cli(t, env, "stores", "list", "--json").must(t, "stores list")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != st.ID || list[1].ID != second || list[1].DefaultCurrency != "LTC" ||
		!slices.Equal(list[1].Coins, []string{"LTC"}) {
		t.Fatalf("list = %+v", list)
	}
	if txt := cli(t, env, "stores", "list").must(t, "stores list"); !strings.Contains(txt, second) || !strings.Contains(txt, "all") {
		t.Errorf("text list:\n%s", txt)
	}

	var key greenfieldKeyOut
	out := cli(t, env, "apikeys", "create", "--label", "woocommerce", "--store", st.ID, "--json",
		"--permission", "btcpay.store.canviewinvoices", "--permission", "btcpay.store.cancreateinvoice",
		"--permission", "BTCPAY.store.canviewstoresettings", "--permission", "btcpay.store.canmodifyinvoices").must(t, "apikeys create --store")
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatal(err)
	}
	wantPerms := []string{"btcpay.store.canviewinvoices", "btcpay.store.cancreateinvoice", "btcpay.store.canviewstoresettings",
		"btcpay.store.canmodifyinvoices"}
	if len(key.Key) != 40 || key.Prefix != key.Key[:8] || key.StoreID != st.ID || !slices.Equal(key.Permissions, wantPerms) {
		t.Fatalf("created key %+v", key)
	}
	pool := must(pgxpool.New(context.Background(), env["DATABASE_URL"]))
	defer pool.Close()
	got, err := greenfield.NewStores(pool, nil).CheckKey(context.Background(), key.Key)
	if err != nil || got == nil || got.StoreID != st.ID || !got.Grants(greenfield.PermCreateInvoice, st.ID) ||
		got.Grants(greenfield.PermModifyWebhooks, st.ID) || got.Grants(greenfield.PermViewInvoices, second) {
		t.Fatalf("CheckKey = %+v, %v", got, err)
	}
	if !slices.Equal(got.Scoped(), []string{"btcpay.store.canviewinvoices:" + st.ID, "btcpay.store.cancreateinvoice:" + st.ID,
		"btcpay.store.canviewstoresettings:" + st.ID, "btcpay.store.canmodifyinvoices:" + st.ID}) {
		t.Errorf("Scoped = %v", got.Scoped())
	}
	if k, _ := greenfield.NewStores(pool, nil).CheckKey(context.Background(), key.Key[:39]+"0"); k != nil && key.Key[39] != '0' {
		t.Error("a key with one character changed is accepted")
	}

	// Revoked by the id create printed, the key is refused at once.
	if txt := cli(t, env, "apikeys", "revoke", key.ID).must(t, "apikeys revoke"); !strings.Contains(txt, "Revoked Greenfield API key") {
		t.Errorf("revoke text %q", txt)
	}
	if k, err := greenfield.NewStores(pool, nil).CheckKey(context.Background(), key.Key); k != nil || err != nil {
		t.Errorf("revoked key: CheckKey = %+v, %v", k, err)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stores", "create"}, 2, "--name is required"},
		{[]string{"stores", "create", "--name", "x", "--coin", "L-T"}, 2, "is not a coin code"},
		{[]string{"stores", "create", "--name", "x", "--default-currency", "US D"}, 1, "default currency"},
		{[]string{"apikeys", "create", "--label", "x", "--store", st.ID}, 2, "at least one --permission"},
		{[]string{"apikeys", "create", "--label", "x", "--permission", "btcpay.store.canviewinvoices"}, 2, "give --store too"},
		{[]string{"apikeys", "create", "--label", "x", "--store", st.ID, "--permission", "btcpay.server.canmodifyserversettings"}, 1,
			"is not a store permission"},
		{[]string{"apikeys", "create", "--label", "x", "--store", strings.Repeat("1", 44), "--permission", "btcpay.store.canviewinvoices"}, 1,
			"no store has this id"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cli(t, env, tt.args...)
			msg := r.stderr
			if r.err != nil {
				msg += r.err.Error()
			}
			if r.code() != tt.code || !strings.Contains(msg, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, err %v; want %d with %q", r.code(), r.stderr, r.err, tt.code, tt.want)
			}
		})
	}
}
