// Command transient-dev is Transient's local development stack: it is for
// trying the gateway on one machine and is not for production. It runs
// PostgreSQL (the local server or a throwaway cluster), litecoind in regtest
// with a funded miner wallet, a webhook receiver that prints what it gets,
// and transientd, until Ctrl-C:
//
//	transient-dev up                    start the stack (make run)
//	transient-dev pay PAYMENT [AMOUNT]  pay a payment from the miner wallet (make pay)
//	transient-dev mine [N]              mine N blocks, default 1 (make mine)
//	transient-dev bench [-smoke]        the benchmark (make bench)
//
// Run it from the repository, after make build: it uses bin/transientd,
// bin/notify-tx, bin/notify-block and scripts/postgres.sh, and keeps its
// files in .cache/dev.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "transient-dev:", err)
		}
		os.Exit(1)
	}
}

// errReported means the error was already printed.
var errReported = errors.New("reported")

const usage = `usage: transient-dev command

commands:
  up                    start the local stack until Ctrl-C (make run)
  pay PAYMENT [AMOUNT]  pay a payment from the miner wallet; AMOUNT defaults
                        to what the payment still lacks (make pay)
  mine [N]              mine N blocks, default 1 (make mine)
  bench [-smoke]        run the benchmark on a stack of its own and write
                        docs/benchmarks.md (make bench)

This is the local development stack, not for production.
`

// run dispatches a command line. It returns instead of exiting so tests can
// drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errReported
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "up":
		return up(ctx, args)
	case "stack":
		// Internal: what up runs in its own process group.
		return stack(ctx, args, getenv, stdout, stderr)
	case "bench":
		return bench(ctx, args, getenv, stdout, stderr)
	case "pay":
		return pay(ctx, args, stdout)
	case "mine":
		return mine(ctx, args, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "transient-dev: unknown command %q\n\n%s", cmd, usage)
		return errReported
	}
}
