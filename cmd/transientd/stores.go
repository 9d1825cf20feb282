package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transient-gateway/transient/internal/greenfield"
)

const storesUsage = `usage: transientd stores <command> [flags]

Stores of the Greenfield API (BTCPay Server's API for shop plugins such as
WooCommerce). A store owns its invoices and webhooks; give a shop plugin the
store's id with an API key made by apikeys create --store ID.

commands:
  create --name NAME [--default-currency USD] [--coin LTC ...]
                        create a store and print it
  list                  list the stores

Each command takes --json and --help. Only DATABASE_URL is needed.
`

func storesCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return group("stores", storesUsage, map[string]func([]string) error{
		"create": func(a []string) error { return storesCreate(ctx, a, getenv, stdout, stderr) },
		"list":   func(a []string) error { return storesList(ctx, a, getenv, stdout, stderr) },
	}, args, stdout, stderr)
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// storeOut is a store as --json prints it.
type storeOut struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	DefaultCurrency string    `json:"default_currency"`
	Coins           []string  `json:"coins"`
	CreatedAt       time.Time `json:"created_at"`
}

func toStoreOut(st *greenfield.Store) storeOut {
	return storeOut{ID: st.ID, Name: st.Name, DefaultCurrency: st.DefaultCurrency, Coins: st.Coins, CreatedAt: st.CreatedAt.UTC()}
}

// cliError turns the package's validation errors into a plain message.
func cliError(err error) error {
	var v greenfield.ValidationError
	if errors.As(err, &v) && len(v) > 0 {
		return errors.New(v[0].Message)
	}
	if errors.Is(err, greenfield.ErrStoreNotFound) {
		return errors.New("no store has this id (see transientd stores list)")
	}
	return err
}

func storesCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("stores create", "--name NAME [--default-currency USD] [--coin C ...] [--json]",
		`Creates a Greenfield store and prints it; its id is what a shop plugin's "Store ID"
setting takes. Invoices without a currency are priced in --default-currency
(a fiat code, converted through the configured rates, or a coin code).
--coin limits the coins its invoices may be paid in (default: every coin).`, stdout, stderr)
	name := cmd.fs.String("name", "", "the store's name (required)")
	currency := cmd.fs.String("default-currency", "USD", "the currency invoices are priced in when they name none")
	var coins repeated
	cmd.fs.Var(&coins, "coin", "a coin the store takes, e.g. LTC (repeat for several; default every configured coin)")
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	if *name == "" {
		return cmd.usageError("--name is required")
	}
	for i, c := range coins {
		coins[i] = strings.ToUpper(strings.TrimSpace(c))
		if code, ok := greenfield.ParsePaymentMethod(c); !ok || code != coins[i] {
			return cmd.usageError("--coin %q is not a coin code such as LTC", c)
		}
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := greenfield.NewStores(pool, nil).CreateStore(ctx, *name, *currency, coins)
	if err != nil {
		return cliError(err)
	}
	return cmd.output(toStoreOut(st), func(w io.Writer) error {
		fmt.Fprintln(w, st.ID)
		fmt.Fprintf(stderr, "Created store %q (default currency %s). Give a shop plugin this store id with a key from\n"+
			"transientd apikeys create --store %s --permission ...\n", st.Name, st.DefaultCurrency, st.ID)
		return nil
	})
}

func storesList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("stores list", "[--json]", "Lists the Greenfield stores, oldest first.", stdout, stderr)
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	stores, err := greenfield.NewStores(pool, nil).ListStores(ctx)
	if err != nil {
		return err
	}
	out := make([]storeOut, 0, len(stores))
	for _, st := range stores {
		out = append(out, toStoreOut(st))
	}
	return cmd.output(out, func(w io.Writer) error {
		if len(out) == 0 {
			fmt.Fprintln(stderr, "No stores: create one with transientd stores create --name NAME")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tDEFAULT CURRENCY\tCOINS\tCREATED")
		for _, st := range out {
			coins := strings.Join(st.Coins, ",")
			if coins == "" {
				coins = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.ID, st.Name, st.DefaultCurrency, coins, st.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	})
}

// greenfieldKeyOut is a Greenfield key as --json prints it.
type greenfieldKeyOut struct {
	ID          string    `json:"id"`
	StoreID     string    `json:"store_id"`
	Label       string    `json:"label"`
	Prefix      string    `json:"prefix"`
	Permissions []string  `json:"permissions"`
	Key         string    `json:"key"`
	CreatedAt   time.Time `json:"created_at"`
}

// greenfieldKeyCreate is apikeys create --store: a Greenfield key.
func greenfieldKeyCreate(ctx context.Context, cmd *command, getenv func(string) string, stderr io.Writer, storeID, label string, perms []string) error {
	if len(perms) == 0 {
		return cmd.usageError("--store needs at least one --permission, e.g. --permission %s", greenfield.PermCreateInvoice)
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	k, plain, err := greenfield.NewStores(pool, nil).CreateKey(ctx, storeID, label, perms)
	if err != nil {
		return cliError(err)
	}
	out := greenfieldKeyOut{ID: k.ID.String(), StoreID: k.StoreID, Label: k.Label, Prefix: k.Prefix, Permissions: k.Permissions,
		Key: plain, CreatedAt: k.CreatedAt.UTC()}
	return cmd.output(out, func(w io.Writer) error {
		fmt.Fprintln(w, plain)
		fmt.Fprintf(stderr, "Created Greenfield API key %s… for store %s (%s, id %s) with %s.\n"+
			"Store it now: it is not shown again. Shop plugins send it as \"Authorization: token <key>\".\n",
			k.Prefix, k.StoreID, k.Label, k.ID, strings.Join(k.Permissions, ", "))
		return nil
	})
}
