package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transient-gateway/transient/internal/bitpay"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/migrations"
)

const pairingUsage = `usage: transientd pairing <command> [flags]

Pairs BitPay clients (btcpay-python and others) with the BitPay-compatible API.

commands:
  create --label NAME   create a pairing code (7 characters, single use, valid 15 minutes)
  list                  list pairing codes and where each stands
  approve CODE          approve a client's pairing request (a code the client got from POST /tokens)

Each command takes --json for machine-readable output and --help for its own help.
Only DATABASE_URL is needed (from the environment or .env).
`

// pairingCommand runs `transientd pairing create | list | approve`.
func pairingCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pairingUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, pairingUsage)
		return nil
	case "create", "list", "approve":
	default:
		fmt.Fprintf(stderr, "transientd pairing: unknown command %q\n\n%s", sub, pairingUsage)
		return errUsage
	}

	fs := flag.NewFlagSet("transientd pairing "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON on stdout instead of text")
	var label *string
	about := map[string]string{
		"create": "usage: transientd pairing create --label NAME [--json]\n\n" +
			"Creates a pairing code for the merchant facade: 7 characters, single use, valid 15 minutes.\n" +
			"The code alone is printed on stdout; give it to the shop, which pairs with it once, e.g.\n" +
			"  BTCPayClient.create_client(host=\"https://pay.example.com\", code=\"<code>\")\n",
		"list": "usage: transientd pairing list [--json]\n\n" +
			"Lists pairing codes, newest first, with their state: waiting_for_client, waiting_for_approval,\n" +
			"paired or expired.\n",
		"approve": "usage: transientd pairing approve CODE [--json]\n\n" +
			"Approves a client's pairing request: the token the client received with CODE works from now on.\n" +
			"Check the label and SIN with transientd pairing list first.\n",
	}[sub]
	if sub == "create" {
		label = fs.String("label", "", "a name for the shop or client being paired, shown by list (required)")
	}
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, about+"\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	fs.Usage = func() { printUsage(stderr) }
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "help" {
			printUsage(stdout)
			return nil
		}
	}
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return errUsage // the flag package printed the problem and the usage
	}
	var code string
	switch {
	case sub == "approve" && len(positional) != 1:
		fmt.Fprintln(stderr, "transientd pairing approve: give exactly one pairing code")
		fs.Usage()
		return errUsage
	case sub == "approve":
		code = positional[0]
	case len(positional) > 0:
		fmt.Fprintf(stderr, "transientd pairing %s: unexpected argument %q\n", sub, positional[0])
		fs.Usage()
		return errUsage
	}
	if sub == "create" && strings.TrimSpace(*label) == "" {
		fmt.Fprintln(stderr, "transientd pairing create: --label is required (a name for the shop, e.g. --label shop1)")
		fs.Usage()
		return errUsage
	}

	cfg, err := config.LoadDatabase(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	v, err := migrations.Check(ctx, pool)
	if err != nil {
		return err
	}
	if v.Behind() {
		return fmt.Errorf("the database schema is behind this binary (%s): run transientd migrate first", v)
	}
	ps := bitpay.NewPairings(pool, nil)
	switch sub {
	case "create":
		return pairingCreate(ctx, ps, strings.TrimSpace(*label), *asJSON, stdout, stderr)
	case "list":
		return pairingList(ctx, ps, *asJSON, stdout, stderr)
	default:
		return pairingApprove(ctx, ps, code, *asJSON, stdout)
	}
}

// pairingCreate prints the new code alone on stdout (or its record with
// asJSON) and a note on stderr.
func pairingCreate(ctx context.Context, ps *bitpay.Pairings, label string, asJSON bool, stdout, stderr io.Writer) error {
	c, err := ps.CreateCode(ctx, label)
	if err != nil {
		return fmt.Errorf("pairing create: %w", err)
	}
	if asJSON {
		return writeJSONTo(stdout, codeJSON(*c, time.Now()))
	}
	fmt.Fprintln(stdout, c.Code)
	fmt.Fprintf(stderr, "Pairing code %s for %q (facade merchant), single use, valid until %s (15 minutes).\n",
		c.Code, c.Label, c.ExpiresAt.Local().Format(time.DateTime))
	return nil
}

// pairingList prints every pairing code as a table (or JSON).
func pairingList(ctx context.Context, ps *bitpay.Pairings, asJSON bool, stdout, stderr io.Writer) error {
	list, err := ps.List(ctx)
	if err != nil {
		return fmt.Errorf("pairing list: %w", err)
	}
	now := time.Now()
	if asJSON {
		out := make([]pairingCodeJSON, 0, len(list))
		for _, c := range list {
			out = append(out, codeJSON(c, now))
		}
		return writeJSONTo(stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "No pairing codes yet: create one with transientd pairing create --label NAME")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	// A client's request shows the address it came from: anyone can send
	// one, so the operator approves only a request whose address and time
	// match the shop's own.
	fmt.Fprintln(tw, "CODE\tSTATE\tORIGIN\tSOURCE\tCREATED\tEXPIRES\tLABEL\tSIN")
	for _, c := range list {
		sin, source := c.SIN, c.Source
		if sin == "" {
			sin = "-"
		}
		if source == "" {
			source = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%q\t%s\n", c.Code, c.State(now), c.Origin, source,
			c.CreatedAt.Local().Format(time.DateTime), c.ExpiresAt.Local().Format(time.DateTime), c.Label, sin)
	}
	return tw.Flush()
}

// pairingApprove approves a client's pairing request.
func pairingApprove(ctx context.Context, ps *bitpay.Pairings, code string, asJSON bool, stdout io.Writer) error {
	c, err := ps.Approve(ctx, code)
	if err != nil {
		return fmt.Errorf("pairing approve %s: %w", code, err)
	}
	if asJSON {
		return writeJSONTo(stdout, codeJSON(*c, time.Now()))
	}
	fmt.Fprintf(stdout, "Approved pairing %s (%q, SIN %s): its token works from now on.\n", c.Code, c.Label, c.SIN)
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (approve CODE --json), returning the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}

// pairingCodeJSON is a pairing code as --json prints it.
type pairingCodeJSON struct {
	Code       string     `json:"code"`
	State      string     `json:"state"`
	Origin     string     `json:"origin"`
	Facade     string     `json:"facade"`
	Label      string     `json:"label"`
	SIN        *string    `json:"sin"`
	Source     *string    `json:"source"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	ApprovedAt *time.Time `json:"approved_at"`
	ClaimedAt  *time.Time `json:"claimed_at"`
}

func codeJSON(c bitpay.PairingCode, now time.Time) pairingCodeJSON {
	out := pairingCodeJSON{Code: c.Code, State: c.State(now), Origin: c.Origin, Facade: c.Facade, Label: c.Label,
		CreatedAt: c.CreatedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC()}
	if c.SIN != "" {
		out.SIN = &c.SIN
	}
	if c.Source != "" {
		out.Source = &c.Source
	}
	if !c.ApprovedAt.IsZero() {
		t := c.ApprovedAt.UTC()
		out.ApprovedAt = &t
	}
	if !c.ClaimedAt.IsZero() {
		t := c.ClaimedAt.UTC()
		out.ClaimedAt = &t
	}
	return out
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
