package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/transient-gateway/transient/internal/config"
)

const rescanAbout = `Scans the coin's wallet again from the block at --from-height (listsinceblock),
as the catch-up loop does, and records every payment it finds: for an operator who
restored a wallet from a backup or suspects a gap. The next catch-up loops of the
running transientd continue from where this scan ends. Needs the full
configuration (it talks to the node). Status changes it finds are delivered by
webhook by a running transientd.`

// rescanOut is what rescan --json prints.
type rescanOut struct {
	Coin          string `json:"coin"`
	FromHeight    int64  `json:"from_height"`
	StatusChanges int64  `json:"status_changes"`
}

func rescan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("rescan", "--coin C --from-height H [--json]", rescanAbout, stdout, stderr)
	coin := cmd.fs.String("coin", "", "coin code, e.g. DOGE (required)")
	from := cmd.fs.Int64("from-height", -1, "block height to scan from, 0 for the whole chain (required)")
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	code := strings.ToUpper(strings.TrimSpace(*coin))
	if code == "" || *from < 0 {
		return cmd.usageError("--coin and --from-height are required")
	}
	cfg, err := config.Load(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	if _, ok := cfg.Coin(code); !ok {
		return cmd.usageError("coin %q is not configured (COINS=%s)", code, coinCodes(cfg))
	}
	c, closeAll, err := openNodes(ctx, cfg, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	// The status changes the scan causes, counted from the event table.
	count := func() (int64, error) {
		var n int64
		err := c.pool.QueryRow(ctx, `SELECT count(*) FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.coin = $1`, code).Scan(&n)
		return n, err
	}
	before, err := count()
	if err != nil {
		return err
	}
	if err := c.svc.Rescan(ctx, code, *from); err != nil {
		return describeDomainError(err)
	}
	after, err := count()
	if err != nil {
		return err
	}
	out := rescanOut{Coin: code, FromHeight: *from, StatusChanges: after - before}
	return cmd.output(out, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s: scanned the wallet from height %d; %d payment status changes.\n", code, *from, out.StatusChanges)
		return err
	})
}

func coinCodes(cfg *config.Config) string {
	codes := make([]string, len(cfg.Coins))
	for i, c := range cfg.Coins {
		codes[i] = c.Code
	}
	return strings.Join(codes, ",")
}
