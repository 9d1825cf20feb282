// Command transientd is Transient's daemon and its command-line tools:
//
//	transientd [serve]                         run the payment gateway (the default)
//	transientd migrate [up | status]           apply or show the database migrations
//	transientd payments create | get | list | watch
//	transientd events list | redeliver         a payment's events and webhook deliveries
//	transientd apikeys create | list | revoke  API keys stored in the database
//	transientd pairing create | list | approve BitPay client pairing
//	transientd rescan --coin C --from-height H re-run the wallet scan from a height
//
// Every command takes --help and --json. Configuration comes from the
// environment and an optional .env file in the working directory (or the
// file named by TRANSIENT_ENV_FILE); see .env.example. The commands that
// only read or write the database need DATABASE_URL alone; payments create
// and rescan talk to the coin node and need the full configuration.
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, errUsage) {
		fmt.Fprintln(os.Stderr, "transientd:", err)
	}
	os.Exit(exitCode(err))
}

// errUsage means the command line was wrong and the usage was already
// printed.
var errUsage = errors.New("usage")

// exitCode is the exit status for run's error.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}

const usage = `usage: transientd [command] [flags]

commands:
  serve                          run the payment gateway (the default)
  migrate [up | status]          apply pending database migrations, or show where the schema stands
  payments create | get | list | watch
                                 create a payment, show one, list them, follow one live
  events list | redeliver        a payment's events with their webhook deliveries; deliver one again
  apikeys create | list | revoke API keys stored (hashed) in the database, beside API_KEYS
  stores create | list           Greenfield API stores (BTCPay shop plugins); their keys: apikeys create --store
  pairing create | list | approve
                                 pair BitPay clients with the BitPay-compatible API
  rescan --coin C --from-height H
                                 scan the coin's wallet again from a block height
  xpub status                    how far each coin's extended public key is used, and its gap
  help                           show this text

Every command takes --help for its own help and --json for machine-readable
output. Configuration is read from the environment and from .env (see
.env.example). Exit status: 0 ok, 1 failed, 2 usage error.
`

// run dispatches a command line. It returns instead of exiting so tests can
// drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-' || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, getenv, stdout, stderr)
	case "payments":
		return paymentsCommand(ctx, args, getenv, stdout, stderr)
	case "events":
		return eventsCommand(ctx, args, getenv, stdout, stderr)
	case "apikeys":
		return apikeysCommand(ctx, args, getenv, stdout, stderr)
	case "stores":
		return storesCommand(ctx, args, getenv, stdout, stderr)
	case "pairing":
		return pairingCommand(ctx, args, getenv, stdout, stderr)
	case "rescan":
		return rescan(ctx, args, getenv, stdout, stderr)
	case "xpub":
		return xpubCommand(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "transientd: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// envFile returns the .env file to read.
func envFile(getenv func(string) string) string {
	if f := getenv("TRANSIENT_ENV_FILE"); f != "" {
		return f
	}
	return ".env"
}
