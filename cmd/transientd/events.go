package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/transient-gateway/transient/internal/api"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

const eventsUsage = `usage: transientd events <command> [flags]

commands:
  list PAYMENT_ID       a payment's events, each with its webhook deliveries and their attempts
  redeliver EVENT_ID    deliver an event again to every destination it went to (a running
                        transientd sends it)

Each command takes --json and --help. Only DATABASE_URL is needed.
`

func eventsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return group("events", eventsUsage, map[string]func([]string) error{
		"list":      func(a []string) error { return eventsList(ctx, a, getenv, stdout, stderr) },
		"redeliver": func(a []string) error { return eventsRedeliver(ctx, a, getenv, stdout, stderr) },
	}, args, stdout, stderr)
}

// outbox returns a webhook outbox on pool that queues deliveries for the
// daemon's workers (it works none itself).
func outbox(pool *pgxpool.Pool) (*webhook.Outbox, error) {
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return webhook.NewOutbox(pool, jobs, webhook.Config{}), nil
}

func eventsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("events list", "PAYMENT_ID [--json]",
		`Lists a payment's events, oldest first, each with its webhook deliveries and their
attempts (--json: the events of GET /payments/{id}/events).`, stdout, stderr)
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
	events, err := offlineService(cfg, pool, log).Events(ctx, id)
	if errors.Is(err, payments.ErrNotFound) {
		return fmt.Errorf("no payment has the id %s", id)
	}
	if err != nil {
		return err
	}
	ob, err := outbox(pool)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	logs, err := ob.Deliveries(ctx, ids)
	if err != nil {
		return err
	}
	for i := range events {
		events[i].Payload = compactJSON(events[i].Payload)
	}
	out := api.EventLogJSON(events, logs)
	return cmd.output(out, func(w io.Writer) error {
		if len(out) == 0 {
			fmt.Fprintln(stderr, "The payment has no events yet.")
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range out {
			change := describeEvent(e.Type, e.PreviousStatus, e.Status)
			fmt.Fprintf(tw, "#%d\t%s\t%s\tevent %s\n", e.Sequence, change, e.OccurredAt.Local().Format(time.DateTime), e.ID)
			if len(e.Deliveries) == 0 {
				fmt.Fprintf(tw, "\tno webhook destination\t\t\n")
			}
			for _, d := range e.Deliveries {
				detail := fmt.Sprintf("%d attempts", len(d.Attempts))
				if d.NextAttemptAt != nil {
					detail += ", next " + d.NextAttemptAt.Local().Format(time.DateTime)
				}
				if d.LastError != "" {
					detail += ", last error: " + d.LastError
				}
				fmt.Fprintf(tw, "\t%s %s %s\t%s\tdelivery %s\n", d.State, d.Kind, redactURL(d.URL), detail, d.ID)
			}
		}
		return tw.Flush()
	})
}

// describeEvent says in a few words what an event of the given type and
// statuses is, for the CLI's text output.
func describeEvent(typ string, prev, status payments.Status) string {
	switch typ {
	case payments.EventCreated:
		return fmt.Sprintf("created, %s", status)
	case payments.EventPaidLate:
		return fmt.Sprintf("%s, paid late", status)
	}
	return fmt.Sprintf("%s → %s", prev, status)
}

// redactURL hides the password of a destination URL in text output.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// redeliverOut is what events redeliver --json prints.
type redeliverOut struct {
	EventID    string   `json:"event_id"`
	Deliveries []string `json:"deliveries"`
}

func eventsRedeliver(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("events redeliver", "EVENT_ID [--json]",
		`Queues the event again for every destination it was delivered to before, with the
same body and event id (as POST /events/{id}/redeliver). A running transientd sends
the new deliveries; follow them with events list.`, stdout, stderr)
	pos, done, err := cmd.parse(args, 1, 1)
	if done || err != nil {
		return err
	}
	id, err := uuid.Parse(pos[0])
	if err != nil {
		return cmd.usageError("%q is not an event id (a UUID, as events list shows)", pos[0])
	}
	cfg, pool, log, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := offlineService(cfg, pool, log).Event(ctx, id); err != nil {
		if errors.Is(err, payments.ErrNotFound) {
			return fmt.Errorf("no event has the id %s", id)
		}
		return err
	}
	ob, err := outbox(pool)
	if err != nil {
		return err
	}
	ids, err := ob.Redeliver(ctx, id)
	if errors.Is(err, webhook.ErrNotFound) {
		return fmt.Errorf("event %s had no webhook destination when it happened: there is nothing to redeliver", id)
	}
	if err != nil {
		return err
	}
	out := redeliverOut{EventID: id.String(), Deliveries: make([]string, len(ids))}
	for i, d := range ids {
		out.Deliveries[i] = d.String()
	}
	return cmd.output(out, func(w io.Writer) error {
		for _, d := range out.Deliveries {
			fmt.Fprintln(w, d)
		}
		fmt.Fprintf(stderr, "Queued %d new deliveries of event %s; a running transientd sends them.\n", len(ids), id)
		return nil
	})
}
