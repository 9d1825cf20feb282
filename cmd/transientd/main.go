// Command transientd is Transient's daemon and its command-line tools:
//
//	transientd [serve]        run the payment gateway (the default)
//	transientd migrate [up]   apply pending database migrations
//	transientd migrate status show how far the database schema is
//
// Configuration comes from the environment and an optional .env file in the
// working directory (or the file named by TRANSIENT_ENV_FILE); see
// .env.example.
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
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "transientd:", err)
		}
		os.Exit(1)
	}
}

// errUsage means the usage was already printed.
var errUsage = errors.New("usage")

const usage = `usage: transientd [command]

commands:
  serve            run the payment gateway (the default)
  migrate [up]     apply pending database migrations
  migrate status   show how far the database schema is
  help             show this text

Configuration is read from the environment and from .env (see .env.example).
`

// run dispatches a command line. It returns instead of exiting so tests can
// drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "migrate":
		return migrate(ctx, args, getenv, stdout, stderr)
	case "pairing":
		return pairingCommand(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "transientd: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// envFile returns the .env file to read.
func envFile(getenv func(string) string) string {
	if f := getenv("TRANSIENT_ENV_FILE"); f != "" {
		return f
	}
	return ".env"
}
