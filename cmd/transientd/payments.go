package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transient-gateway/transient/internal/config"
	"github.com/transient-gateway/transient/internal/payments"
)

const paymentsUsage = `usage: transientd payments <command> [flags]

commands:
  create --currency C --amount A   create a payment (asks the coin node for an address)
  get ID                           show a payment with its transactions
  list                             list payments, newest first, with filters
  watch ID                         follow a payment's status live until it is final (PAID,
                                   EXPIRED, INVALID) or Ctrl-C

Each command takes --json and --help. create needs the full configuration
(it talks to the node); the others need only DATABASE_URL.
`

func paymentsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return group("payments", paymentsUsage, map[string]func([]string) error{
		"create": func(a []string) error { return paymentsCreate(ctx, a, getenv, stdout, stderr) },
		"get":    func(a []string) error { return paymentsGet(ctx, a, getenv, stdout, stderr) },
		"list":   func(a []string) error { return paymentsList(ctx, a, getenv, stdout, stderr) },
		"watch":  func(a []string) error { return paymentsWatch(ctx, a, getenv, stdout, stderr) },
	}, args, stdout, stderr)
}

func paymentsCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("payments create", "--currency C --amount A [flags]",
		`Creates a payment as POST /payments does: asks the coin's node for a fresh address and
stores the payment. Prints the payment (--json: the API's payment object).`, stdout, stderr)
	var (
		currency      = cmd.fs.String("currency", "", "coin code, e.g. DOGE (required)")
		amount        = cmd.fs.String("amount", "", "amount in coin units, at most 8 decimals, e.g. 10.5 (required)")
		account       = cmd.fs.String("account", "", "address label (the account on Dogecoin Core)")
		orderID       = cmd.fs.String("order-id", "", "the shop's order id")
		metadata      = cmd.fs.String("metadata", "", `a JSON object stored with the payment, e.g. '{"cart":1}'`)
		expiresIn     = cmd.fs.Duration("expires-in", 0, "lifetime, e.g. 15m (default PAYMENT_EXPIRY)")
		expiresAt     = cmd.fs.String("expires-at", "", "expiry as an RFC 3339 time, instead of --expires-in")
		confirmations = cmd.fs.Int64("confirmations", -1, "confirmations required (default <COIN>_CONFIRMATIONS)")
		callbackURL   = cmd.fs.String("callback-url", "", "receives this payment's events besides PAYMENT_WEBHOOK_URL")
		redirectURL   = cmd.fs.String("redirect-url", "", "where the checkout page sends the buyer once paid")
	)
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	if *currency == "" || *amount == "" {
		return cmd.usageError("--currency and --amount are required")
	}
	amt, err := payments.ParseAmount(*amount)
	if err != nil {
		return cmd.usageError("--amount: %v", strings.TrimPrefix(err.Error(), "payments: "))
	}
	req := payments.CreateRequest{Coin: strings.ToUpper(*currency), Amount: amt, Label: *account, OrderID: *orderID,
		ExpiresIn: *expiresIn, CallbackURL: *callbackURL, RedirectURL: *redirectURL}
	if *metadata != "" {
		if !json.Valid([]byte(*metadata)) {
			return cmd.usageError("--metadata must be a JSON object")
		}
		req.Metadata = json.RawMessage(*metadata)
	}
	if *expiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, *expiresAt)
		if err != nil {
			return cmd.usageError("--expires-at must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		req.ExpiresAt = t
	}
	if *confirmations >= 0 {
		req.Confirmations = confirmations
	}

	cfg, err := config.Load(getenv, envFile(getenv))
	if err != nil {
		return err
	}
	c, closeAll, err := openNodes(ctx, cfg, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	p, err := c.svc.Create(ctx, req)
	if err != nil {
		return describeDomainError(err)
	}
	return cmd.output(p.JSON(), func(w io.Writer) error { return printPayment(w, p.JSON()) })
}

// describeDomainError turns a validation failure into the message the API
// would answer.
func describeDomainError(err error) error {
	var domErr *payments.Error
	if errors.As(err, &domErr) {
		if domErr.Field != "" {
			return fmt.Errorf("%s (%s): %s", domErr.Code, domErr.Field, domErr.Message)
		}
		return fmt.Errorf("%s: %s", domErr.Code, domErr.Message)
	}
	return err
}

func paymentsGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("payments get", "ID [--json]",
		"Shows a payment with its transactions (--json: the API's payment object).", stdout, stderr)
	pos, done, err := cmd.parse(args, 1, 1)
	if done || err != nil {
		return err
	}
	id, err := uuid.Parse(pos[0])
	if err != nil {
		return cmd.usageError("%q is not a payment id (a UUID)", pos[0])
	}
	cfg, pool, log, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	p, err := offlineService(cfg, pool, log).Get(ctx, id)
	if errors.Is(err, payments.ErrNotFound) {
		return fmt.Errorf("no payment has the id %s", id)
	}
	if err != nil {
		return err
	}
	return cmd.output(p.JSON(), func(w io.Writer) error { return printPayment(w, p.JSON()) })
}

// paymentList is what payments list --json prints.
type paymentList struct {
	Payments   []payments.PaymentJSON `json:"payments"`
	NextCursor *string                `json:"next_cursor"`
}

func paymentsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("payments list", "[flags]",
		`Lists payments, newest first, one page at a time (as GET /payments). When more
follow, the command says which --cursor gives the next page.`, stdout, stderr)
	var (
		status        = cmd.fs.String("status", "", "comma-separated statuses, e.g. PENDING,PAID")
		currency      = cmd.fs.String("currency", "", "coin code")
		orderID       = cmd.fs.String("order-id", "", "the shop's order id")
		createdAfter  = cmd.fs.String("created-after", "", "RFC 3339 time, inclusive")
		createdBefore = cmd.fs.String("created-before", "", "RFC 3339 time, exclusive")
		limit         = cmd.fs.Int("limit", 50, fmt.Sprintf("payments per page, 1 to %d", payments.MaxListLimit))
		cursor        = cmd.fs.String("cursor", "", "continue after a previous page")
	)
	if _, done, err := cmd.parse(args, 0, 0); done || err != nil {
		return err
	}
	f := payments.ListFilter{Coin: *currency, OrderID: *orderID, Limit: *limit, Cursor: *cursor}
	if *status != "" {
		for _, st := range strings.Split(*status, ",") {
			f.Statuses = append(f.Statuses, payments.Status(strings.ToUpper(strings.TrimSpace(st))))
		}
	}
	for _, tf := range []struct {
		flag, value string
		dst         *time.Time
	}{{"--created-after", *createdAfter, &f.CreatedAfter}, {"--created-before", *createdBefore, &f.CreatedBefore}} {
		if tf.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, tf.value)
		if err != nil {
			return cmd.usageError("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", tf.flag)
		}
		*tf.dst = t
	}
	cfg, pool, log, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	page, err := offlineService(cfg, pool, log).List(ctx, f)
	if err != nil {
		return describeDomainError(err)
	}
	out := paymentList{Payments: make([]payments.PaymentJSON, 0, len(page.Payments))}
	for _, p := range page.Payments {
		out.Payments = append(out.Payments, p.JSON())
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return cmd.output(out, func(w io.Writer) error {
		if len(out.Payments) == 0 {
			fmt.Fprintln(stderr, "No payments match.")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tAMOUNT\tRECEIVED\tCREATED\tORDER")
		for _, p := range out.Payments {
			order := "-"
			if p.OrderID != nil {
				order = *p.OrderID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\n", p.ID, p.Status, p.Amount, p.Currency, p.AmountReceived,
				p.CreatedAt.Local().Format(time.DateTime), order)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if out.NextCursor != nil {
			fmt.Fprintf(stderr, "More payments follow: add --cursor %s\n", *out.NextCursor)
		}
		return nil
	})
}

// printPayment writes a payment for a person.
func printPayment(w io.Writer, p payments.PaymentJSON) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "payment\t%s\n", p.ID)
	status := string(p.Status)
	if p.Overpaid {
		status += " (overpaid)"
	}
	if p.PaidLate {
		status += " (paid late)"
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "amount\t%s %s (received %s, confirmed %s, due %s)\n", p.Amount, p.Currency, p.AmountReceived, p.AmountConfirmed, p.AmountDue)
	fmt.Fprintf(tw, "address\t%s\n", p.PaymentAddress)
	fmt.Fprintf(tw, "uri\t%s\n", p.PaymentURI)
	fmt.Fprintf(tw, "confirmations\t%d required\n", p.ConfirmationsRequired)
	fmt.Fprintf(tw, "created\t%s\n", p.CreatedAt.Local().Format(time.DateTime))
	expires := "never"
	if p.ExpiresAt != nil {
		expires = p.ExpiresAt.Local().Format(time.DateTime)
	}
	fmt.Fprintf(tw, "expires\t%s\n", expires)
	if p.OrderID != nil {
		fmt.Fprintf(tw, "order\t%s\n", *p.OrderID)
	}
	if p.Account != "" {
		fmt.Fprintf(tw, "account\t%s\n", p.Account)
	}
	for i, t := range p.Transactions {
		label := ""
		if i == 0 {
			label = "transactions"
		}
		fmt.Fprintf(tw, "%s\t%s:%d %s, %d confirmations, %s\n", label, t.TxID, t.Vout, t.Amount, t.Confirmations, t.State)
	}
	return tw.Flush()
}

// final reports whether a payment in status st is done for watch: PAID
// (which a reorg could still undo, rarely), EXPIRED or INVALID.
func final(st payments.Status) bool {
	return st == payments.StatusPaid || st.Sticky()
}

// watchSnapshot is the first line payments watch --json prints.
type watchSnapshot struct {
	Type      string               `json:"type"` // "snapshot"
	PaymentID string               `json:"payment_id"`
	Status    payments.Status      `json:"status"`
	Sequence  int64                `json:"sequence"`
	Payment   payments.PaymentJSON `json:"payment"`
}

// watchPoll is how often watch reads the events even without a
// notification, in case one was missed (a dropped connection).
const watchPoll = 30 * time.Second

func paymentsWatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("payments watch", "ID [--timeout D] [--json]",
		`Follows a payment live: prints where it stands, then every event as it happens,
and exits 0 once the payment is PAID, EXPIRED or INVALID (or on Ctrl-C). With
--json it prints one JSON object per line: a snapshot, then each event's webhook
body. Events are announced by PostgreSQL (LISTEN), so a running transientd
must be doing the detection.`, stdout, stderr)
	timeout := cmd.fs.Duration("timeout", 0, "give up (exit 1) when the payment is not final after this long; 0 waits forever")
	pos, done, err := cmd.parse(args, 1, 1)
	if done || err != nil {
		return err
	}
	id, err := uuid.Parse(pos[0])
	if err != nil {
		return cmd.usageError("%q is not a payment id (a UUID)", pos[0])
	}
	cfg, pool, log, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc := offlineService(cfg, pool, log)
	w := &watcher{svc: svc, pool: pool, id: id, json: *cmd.json, out: stdout, timeout: *timeout}
	err = w.run(ctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return nil // Ctrl-C: the operator stopped watching
	case errors.Is(err, errWatchTimeout):
		return fmt.Errorf("payment %s is still %s after %s", id, w.status, *timeout)
	default:
		return err
	}
}

// errWatchTimeout is what watcher.run returns when the payment was not
// final within the watcher's timeout.
var errWatchTimeout = errors.New("watch timed out")

// watcher follows one payment.
type watcher struct {
	svc    *payments.Service
	pool   *pgxpool.Pool
	id     uuid.UUID
	json   bool
	out    io.Writer
	seq    int64 // the last event printed
	status payments.Status
	// timeout bounds the wait for a final status, counted from the
	// snapshot, so a slow start never reads as a payment that stayed put;
	// 0 waits forever.
	timeout time.Duration
	// betweenReads, when set, runs between the snapshot's two reads: a
	// test commits an event there.
	betweenReads func(context.Context)
}

// run prints the snapshot and then the events until the payment is final.
// It listens before it reads, so no event falls in between; after a lost
// connection it listens again and reads what it missed.
func (w *watcher) run(ctx context.Context) error {
	conn, err := w.listen(ctx)
	if err != nil {
		return err
	}
	defer func() { conn.Close(context.WithoutCancel(ctx)) }()
	if err := w.snapshot(ctx); err != nil {
		return err
	}
	if w.timeout > 0 {
		wait, cancel := context.WithTimeoutCause(ctx, w.timeout, errWatchTimeout)
		defer cancel()
		err := w.follow(wait, &conn)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wait), errWatchTimeout) {
			return errWatchTimeout
		}
		return err
	}
	return w.follow(ctx, &conn)
}

// follow prints the events until the payment is final or ctx ends. It may
// replace *conn after a lost connection.
func (w *watcher) follow(ctx context.Context, conn **pgx.Conn) error {
	for !final(w.status) {
		wctx, cancel := context.WithTimeout(ctx, watchPoll)
		n, err := (*conn).WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && wctx.Err() == nil:
			// The connection broke: listen again, then catch up.
			(*conn).Close(context.WithoutCancel(ctx))
			if *conn, err = w.relisten(ctx); err != nil {
				return err
			}
		case n != nil && !strings.HasPrefix(n.Payload, w.id.String()+":"):
			continue // another payment's event
		}
		if err := w.catchUp(ctx); err != nil {
			return err
		}
	}
	return nil
}

// listen takes a connection of its own out of the pool and listens on the
// events channel.
func (w *watcher) listen(ctx context.Context) (*pgx.Conn, error) {
	pc, err := w.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{payments.EventsChannel}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("database: listen: %w", err)
	}
	return conn, nil
}

// relisten retries listen once a second until it works or ctx ends.
func (w *watcher) relisten(ctx context.Context) (*pgx.Conn, error) {
	for {
		conn, err := w.listen(ctx)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// snapshot reads the events before the payment: an event committed
// between the two reads is then in the payment read and printed again by
// the next catch-up, never skipped. Read the other way round, a payment
// read as PENDING with its PAID event's sequence stopped the watch from
// ever seeing PAID (the catch-up asks for events after that sequence).
func (w *watcher) snapshot(ctx context.Context) error {
	events, err := w.svc.Events(ctx, w.id)
	if errors.Is(err, payments.ErrNotFound) {
		return fmt.Errorf("no payment has the id %s", w.id)
	}
	if err != nil {
		return err
	}
	if w.betweenReads != nil {
		w.betweenReads(ctx)
	}
	p, err := w.svc.Get(ctx, w.id)
	if errors.Is(err, payments.ErrNotFound) {
		return fmt.Errorf("no payment has the id %s", w.id)
	}
	if err != nil {
		return err
	}
	if len(events) > 0 {
		w.seq = events[len(events)-1].Sequence
	}
	w.status = p.Status
	pj := p.JSON()
	if w.json {
		return printLine(w.out, watchSnapshot{Type: "snapshot", PaymentID: pj.ID, Status: pj.Status, Sequence: w.seq, Payment: pj})
	}
	_, err = fmt.Fprintf(w.out, "%s  %s  %s: received %s of %s %s\n", time.Now().Local().Format(time.DateTime),
		pj.ID, pj.Status, pj.AmountReceived, pj.Amount, pj.Currency)
	return err
}

// catchUp prints the events after the last one printed.
func (w *watcher) catchUp(ctx context.Context) error {
	events, err := w.svc.EventsSince(ctx, w.id, w.seq)
	if err != nil {
		return err
	}
	for _, ev := range events {
		w.seq, w.status = ev.Sequence, ev.Status
		if w.json {
			if _, err := fmt.Fprintf(w.out, "%s\n", compactJSON(ev.Payload)); err != nil {
				return err
			}
			continue
		}
		var body payments.EventJSON
		_ = json.Unmarshal(ev.Payload, &body)
		change := describeEvent(ev.Type, ev.PreviousStatus, ev.Status)
		if _, err := fmt.Fprintf(w.out, "%s  %s  %s: received %s of %s %s (event %d)\n", ev.OccurredAt.Local().Format(time.DateTime),
			w.id, change, body.Payment.AmountReceived, body.Payment.Amount, body.Payment.Currency, ev.Sequence); err != nil {
			return err
		}
	}
	return nil
}

// printLine writes v as one line of JSON.
func printLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// compactJSON returns raw without insignificant space (jsonb adds some).
func compactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
