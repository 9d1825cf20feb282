package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/health"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/xpub"
)

// checkKeys checks each coin's extended public key against its node's
// chain before transientd serves: a key for another network stops the
// start. A node that does not answer is no reason to stop (the pool checks
// again before it derives anything). It then drops pooled addresses that
// the key did not make.
func checkKeys(ctx context.Context, cfg *config.Config, c *core, log *slog.Logger) error {
	for _, coin := range c.svc.CoinList() {
		x, ok := coin.Derived.(*payments.XPub)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
		chain, err := x.CheckChain(cctx)
		cancel()
		switch {
		case errors.Is(err, xpub.ErrWrongNetwork):
			return fmt.Errorf("%s_XPUB: %w", coin.Code, err)
		case err != nil:
			log.Warn("extended public key: the node does not answer; its chain is checked before the first address is derived",
				"coin", coin.Code, "err", err)
		default:
			log.Info("extended public key: addresses are derived from the merchant's key and imported watch-only",
				"coin", coin.Code, "key", x.Key.Prefix, "address_type", x.Key.Type, "chain", chain, "key_id", x.Key.ID())
		}
	}
	// Addresses pooled by the node's wallet before the key was set hold
	// keys on the server: none may be handed out any more.
	dropped, err := c.svc.DropForeignPooled(ctx)
	if err != nil {
		return err
	}
	for code, n := range dropped {
		log.Warn("extended public key: dropped pooled addresses not derived from the configured key", "coin", code, "addresses", n)
	}
	return nil
}

// keyProbes are the readiness checks that each key's node still watches the
// addresses of open payments; a failed one starts their re-import.
func keyProbes(svc *payments.Service) []health.Probe {
	var probes []health.Probe
	for _, coin := range svc.CoinList() {
		if coin.Derived == nil {
			continue
		}
		code := coin.Code
		probes = append(probes, health.Probe{Name: "watch:" + code, Check: func(ctx context.Context) (string, error) {
			detail, err := svc.CheckWatched(ctx, code)
			if errors.Is(err, payments.ErrWatchLost) {
				return "", &health.PublicError{Reason: err.Error(), Err: err}
			}
			return detail, err
		}})
	}
	return probes
}

// rewatchAtStart imports again, for each key, whatever its node no longer
// watches (a new node, a restored wallet), before the first probe asks.
func rewatchAtStart(ctx context.Context, svc *payments.Service, log *slog.Logger) {
	for _, coin := range svc.CoinList() {
		if coin.Derived == nil {
			continue
		}
		n, err := svc.Rewatch(ctx, coin.Code)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("extended public key: cannot check that the node watches open payments' addresses; /readyz checks again",
				"coin", coin.Code, "err", err)
		case err == nil && n == 0:
			log.Info("extended public key: the node watches every open payment's address", "coin", coin.Code)
		}
	}
}

const xpubStatusAbout = `Shows, for each coin whose addresses are derived from an extended public
key (<COIN>_XPUB), how far the key is used: the next index, the highest index
handed out to a payment and the highest paid, the gap between them, and the
addresses ready in the pool or still being imported into the node.

The merchant's wallet finds payments only up to its gap limit past the last
paid address (20 in most wallets): when the gap passes it, raise the wallet's
limit (see the README, Keys off the server). Reads only the database.`

// xpubCommand runs `transientd xpub SUB`.
func xpubCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = `usage: transientd xpub status [--json]

commands:
  status    how far each coin's extended public key is used, and its gap
`
	return group("xpub", usage, map[string]func([]string) error{
		"status": func(args []string) error { return xpubStatus(ctx, args, getenv, stdout, stderr) },
	}, args, stdout, stderr)
}

func xpubStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("xpub status", "[--json]", xpubStatusAbout, stdout, stderr)
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	cfg, pool, log, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	sts, err := offlineService(cfg, pool, log).KeyStatuses(ctx)
	if err != nil {
		return err
	}
	if sts == nil {
		sts = []payments.KeyStatus{}
	}
	return cmd.output(sts, func(w io.Writer) error {
		if len(sts) == 0 {
			_, err := fmt.Fprintln(w, "No coin has an extended public key (<COIN>_XPUB): the nodes' wallets make the addresses.")
			return err
		}
		for _, st := range sts {
			warn := ""
			if st.Gap > st.GapWarn {
				warn = fmt.Sprintf("  past %s_GAP_WARN=%d: raise the wallet's gap limit to at least %d", st.Coin, st.GapWarn, st.Gap)
			}
			_, err := fmt.Fprintf(w, "%s key %s: next index %d, highest handed out %d, highest paid %d, gap %d%s; pool: %d ready, %d importing\n",
				st.Coin, st.KeyID, st.NextIndex, st.HighestHandedOut, st.HighestPaid, st.Gap, warn, st.Ready, st.Importing)
			if err != nil {
				return err
			}
		}
		return nil
	})
}
