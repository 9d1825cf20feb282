package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/apikeys"
	"github.com/transient-gateway/transient/internal/greenfield"
)

const apikeysUsage = `usage: transientd apikeys <command> [flags]

API keys for the merchant routes (POST /payments, GET /payments, the events
routes), stored hashed in PostgreSQL: a key is shown once, when it is
created. They work beside the keys of API_KEYS, which stay as they are.

commands:
  create --label NAME   create a key and print it (the only time it is shown)
  create --label NAME --store ID --permission P [--permission P ...]
                        create a Greenfield API key for a store (see stores)
  list                  list the keys: id, prefix, label, created, last used, revoked
  revoke ID|PREFIX      revoke a key at once (by its id or the prefix list shows;
                        a Greenfield key by the id create printed)

Each command takes --json and --help. Only DATABASE_URL is needed.
`

func apikeysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return group("apikeys", apikeysUsage, map[string]func([]string) error{
		"create": func(a []string) error { return apikeysCreate(ctx, a, getenv, stdout, stderr) },
		"list":   func(a []string) error { return apikeysList(ctx, a, getenv, stdout, stderr) },
		"revoke": func(a []string) error { return apikeysRevoke(ctx, a, getenv, stdout, stderr) },
	}, args, stdout, stderr)
}

// keyOut is a key as --json prints it. Key is set by create alone.
type keyOut struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func toKeyOut(k apikeys.Key) keyOut {
	out := keyOut{ID: k.ID.String(), Label: k.Label, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC()}
	if k.LastUsedAt != nil {
		t := k.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

func apikeysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("apikeys create", "--label NAME [--store ID --permission P ...] [--json]",
		`Creates an API key and prints it on stdout. It is shown this once: only its hash is
stored. Send it as "Authorization: Bearer <key>".

With --store, creates a Greenfield API key for that store instead (what a
BTCPay shop plugin such as WooCommerce takes), holding the --permission
names, BTCPay's: btcpay.store.canviewinvoices, btcpay.store.cancreateinvoice,
btcpay.store.canviewstoresettings, btcpay.store.canmodifyinvoices,
btcpay.store.webhooks.canmodifywebhooks, btcpay.store.canmodifystoresettings
(all of the store's), ... Shop plugins send it as "Authorization: token <key>".`, stdout, stderr)
	label := cmd.fs.String("label", "", "what the key is for, e.g. \"shop frontend\" (required)")
	store := cmd.fs.String("store", "", "make a Greenfield key for this store id (see transientd stores)")
	var perms repeated
	cmd.fs.Var(&perms, "permission", "with --store: a BTCPay permission the key holds (repeat for several)")
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	if *label == "" {
		return cmd.usageError("--label is required")
	}
	if *store != "" {
		return greenfieldKeyCreate(ctx, cmd, getenv, stderr, *store, *label, perms)
	}
	if len(perms) > 0 {
		return cmd.usageError("--permission is for Greenfield keys: give --store too")
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	k, plain, err := apikeys.NewStore(pool, nil).Create(ctx, *label)
	if err != nil {
		return err
	}
	out := toKeyOut(k)
	out.Key = plain
	return cmd.output(out, func(w io.Writer) error {
		fmt.Fprintln(w, plain)
		fmt.Fprintf(stderr, "Created API key %s (%s, id %s). Store it now: it is not shown again.\n", k.Prefix, k.Label, k.ID)
		return nil
	})
}

func apikeysList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("apikeys list", "[--json]",
		"Lists the stored API keys, newest first, revoked ones included. API_KEYS are not listed.", stdout, stderr)
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := apikeys.NewStore(pool, nil).List(ctx)
	if err != nil {
		return err
	}
	out := make([]keyOut, 0, len(keys))
	for _, k := range keys {
		out = append(out, toKeyOut(k))
	}
	return cmd.output(out, func(w io.Writer) error {
		if len(out) == 0 {
			fmt.Fprintln(stderr, "No API keys stored: create one with transientd apikeys create --label NAME")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tLABEL\tCREATED\tLAST USED\tSTATE")
		for _, k := range out {
			used, state := "never", "active"
			if k.LastUsedAt != nil {
				used = k.LastUsedAt.Local().Format(time.DateTime)
			}
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Label, k.CreatedAt.Local().Format(time.DateTime), used, state)
		}
		return tw.Flush()
	})
}

func apikeysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("apikeys revoke", "ID|PREFIX [--json]",
		`Revokes a stored API key: requests with it are refused from now on. Name it by its id
or its prefix (tk_ and 8 characters), as apikeys list shows them.`, stdout, stderr)
	pos, done, err := cmd.parse(args, 1, 1)
	if done || err != nil {
		return err
	}
	_, pool, _, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	k, err := apikeys.NewStore(pool, nil).Revoke(ctx, pos[0])
	if id, perr := uuid.Parse(strings.TrimSpace(pos[0])); errors.Is(err, apikeys.ErrNotFound) && perr == nil {
		// Not one of ours: a Greenfield key has the id.
		switch gerr := greenfield.NewStores(pool, nil).RevokeKey(ctx, id); {
		case gerr == nil:
			return cmd.output(map[string]string{"id": id.String(), "kind": "greenfield"}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Revoked Greenfield API key %s.\n", id)
				return err
			})
		case !errors.Is(gerr, greenfield.ErrKeyNotFound):
			return gerr
		}
	}
	if errors.Is(err, apikeys.ErrNotFound) {
		return fmt.Errorf("no stored API key has this id or prefix (see transientd apikeys list; API_KEYS keys are revoked by removing them from API_KEYS)")
	}
	if err != nil {
		return err
	}
	return cmd.output(toKeyOut(k), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Revoked API key %s (%s, id %s).\n", k.Prefix, k.Label, k.ID)
		return err
	})
}
