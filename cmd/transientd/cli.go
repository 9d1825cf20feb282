package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/migrations"
)

// command is one command line tool: its flags, its help and where its
// output goes. Every command takes --help (usage on stdout, exit 0) and
// --json (machine-readable output on stdout); results go to stdout, notes
// and logs to stderr.
type command struct {
	name     string // "payments create"
	synopsis string // what follows the name in the usage line
	about    string // what the command does, a paragraph
	fs       *flag.FlagSet
	json     *bool
	stdout   io.Writer
	stderr   io.Writer
}

// newCommand returns a command with --json defined; define its other flags
// on c.fs before parse.
func newCommand(name, synopsis, about string, stdout, stderr io.Writer) *command {
	c := &command{name: name, synopsis: synopsis, about: about, stdout: stdout, stderr: stderr,
		fs: flag.NewFlagSet("transientd "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.json = c.fs.Bool("json", false, "print JSON on stdout instead of text")
	c.fs.Usage = func() { c.printUsage(c.fs.Output()) }
	return c
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: transientd %s %s\n\n%s\n\nflags:\n", c.name, c.synopsis, strings.TrimSpace(c.about))
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(c.stderr)
}

// parse reads args, flags and positional arguments in any order, and
// checks the number of positional ones. done is true when --help was asked
// for (the usage is then printed on stdout): the command returns nil. A
// usage error is printed with the usage on stderr and returned as errUsage.
func (c *command) parse(args []string, minArgs, maxArgs int) (positional []string, done bool, err error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			c.printUsage(c.stdout)
			return nil, true, nil
		}
	}
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, false, errUsage // the flag package printed the problem and the usage
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	switch {
	case len(positional) < minArgs:
		return nil, false, c.usageError("missing argument: %s", c.synopsis)
	case len(positional) > maxArgs:
		return nil, false, c.usageError("unexpected argument %q", positional[maxArgs])
	}
	return positional, false, nil
}

// usageError prints a problem with the command line and the usage on
// stderr, and returns errUsage.
func (c *command) usageError(format string, args ...any) error {
	fmt.Fprintf(c.stderr, "transientd %s: %s\n\n", c.name, fmt.Sprintf(format, args...))
	c.printUsage(c.stderr)
	return errUsage
}

// output prints v as JSON with --json, or calls text otherwise.
func (c *command) output(v any, text func(w io.Writer) error) error {
	if *c.json {
		return printJSON(c.stdout, v)
	}
	return text(c.stdout)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// group dispatches `transientd NAME SUB ...` to the command SUB; usage
// lists the subcommands.
func group(name, usage string, subs map[string]func(args []string) error, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "transientd %s: unknown command %q\n\n%s", name, args[0], usage)
		return errUsage
	}
	return sub(args[1:])
}

// cliLogger is the logger of the command line tools: the configured
// format, at warn level or above so the tools' own output stays readable.
func cliLogger(stderr io.Writer, cfg *config.Config) *slog.Logger {
	level := cfg.LogLevel
	if level == "debug" || level == "info" {
		level = "warn"
	}
	return newLogger(stderr, cfg.LogFormat, level)
}

// openDatabase loads the database settings, connects, and checks that the
// schema is current: the database commands never work on a schema they do
// not know.
func openDatabase(ctx context.Context, getenv func(string) string, stderr io.Writer) (*config.Config, *pgxpool.Pool, *slog.Logger, error) {
	cfg, err := config.LoadDatabase(getenv, envFile(getenv))
	if err != nil {
		return nil, nil, nil, err
	}
	log := cliLogger(stderr, cfg)
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return cfg, pool, log, nil
}

// checkSchema refuses a schema that is behind this binary.
// openNodes opens what the commands that talk to the nodes need: the pool
// (on a current schema) and the core with a client per coin, whose events
// also get the daemon's AMQP deliveries (getenv reads AMQP_URL), Greenfield
// webhooks (GREENFIELD_ENABLED) and BitPay IPNs (BITPAY_ENABLED). closeAll
// closes them, the nodes first.
func openNodes(ctx context.Context, cfg *config.Config, getenv func(string) string, stderr io.Writer) (c *core, closeAll func(), err error) {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	c, err = newCore(cfg, pool, cliLogger(stderr, cfg), nil)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	if err := addAMQPHook(getenv, c.svc); err != nil {
		c.closeNodes()
		pool.Close()
		return nil, nil, err
	}
	if err := addGreenfieldWebhooks(getenv, cfg, pool, c); err != nil {
		c.closeNodes()
		pool.Close()
		return nil, nil, err
	}
	if err := addBitPayIPNs(getenv, cfg, pool, c); err != nil {
		c.closeNodes()
		pool.Close()
		return nil, nil, err
	}
	return c, func() { c.closeNodes(); pool.Close() }, nil
}

func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	v, err := migrations.Check(ctx, pool)
	if err != nil {
		return err
	}
	if v.Behind() {
		return fmt.Errorf("the database schema is behind this binary (%s): run transientd migrate first", v)
	}
	return nil
}

// withRequestIDs is the daemon's log handler: records logged with a
// request's context carry its request_id.
func withRequestIDs(log *slog.Logger) *slog.Logger {
	return slog.New(api.WithRequestID(log.Handler()))
}
