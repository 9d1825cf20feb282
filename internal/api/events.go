package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// EventJSON is one event of GET /payments/{id}/events with its delivery
// log; `transientd events list --json` prints the same.
type EventJSON struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Sequence       int64           `json:"sequence"`
	Status         payments.Status `json:"status"`
	PreviousStatus payments.Status `json:"previous_status"`
	OccurredAt     time.Time       `json:"occurred_at"`
	// Payload is the webhook body, exactly as delivered.
	Payload    json.RawMessage `json:"payload"`
	Deliveries []DeliveryJSON  `json:"deliveries"`
}

// DeliveryJSON is one webhook delivery of an event, with its attempts.
type DeliveryJSON struct {
	ID            string        `json:"id"`
	URL           string        `json:"url"`
	Kind          string        `json:"kind"`
	State         webhook.State `json:"state"`
	CreatedAt     time.Time     `json:"created_at"`
	CompletedAt   *time.Time    `json:"completed_at"`
	NextAttemptAt *time.Time    `json:"next_attempt_at"`
	LastError     string        `json:"last_error,omitempty"`
	Attempts      []AttemptJSON `json:"attempts"`
}

// AttemptJSON is one request of a delivery.
type AttemptJSON struct {
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	HTTPStatus *int      `json:"http_status"`
	Error      string    `json:"error,omitempty"`
	Finished   bool      `json:"finished"`
}

type eventsResponse struct {
	Success bool        `json:"success"`
	Events  []EventJSON `json:"events"`
}

type redeliverResponse struct {
	Success    bool     `json:"success"`
	EventID    string   `json:"event_id"`
	Deliveries []string `json:"deliveries"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := parseID(chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	events, err := s.payments.Events(r.Context(), id)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	logs := map[uuid.UUID][]webhook.Delivery{}
	if s.webhooks != nil {
		if logs, err = s.webhooks.Deliveries(r.Context(), ids); err != nil {
			return err
		}
	}
	resp := eventsResponse{Success: true, Events: EventLogJSON(events, logs)}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// EventLogJSON returns events, oldest first, each with its deliveries from
// logs (webhook.Outbox.Deliveries).
func EventLogJSON(events []payments.Event, logs map[uuid.UUID][]webhook.Delivery) []EventJSON {
	out := make([]EventJSON, 0, len(events))
	for _, ev := range events {
		e := EventJSON{
			ID: ev.ID.String(), Type: ev.Type, Sequence: ev.Sequence, Status: ev.Status,
			PreviousStatus: ev.PreviousStatus, OccurredAt: ev.OccurredAt.UTC(), Payload: ev.Payload,
			Deliveries: []DeliveryJSON{},
		}
		for _, d := range logs[ev.ID] {
			dj := DeliveryJSON{
				ID: d.ID.String(), URL: d.URL, Kind: d.Kind, State: d.State, CreatedAt: d.CreatedAt.UTC(),
				CompletedAt: d.CompletedAt, NextAttemptAt: d.NextAttemptAt, LastError: d.LastError,
				Attempts: make([]AttemptJSON, 0, len(d.Attempts)),
			}
			for _, a := range d.Attempts {
				aj := AttemptJSON{Number: a.Number, At: a.At.UTC(), DurationMS: a.Duration.Milliseconds(), Error: a.Error, Finished: a.Finished}
				if a.HTTPStatus != 0 {
					status := a.HTTPStatus
					aj.HTTPStatus = &status
				}
				dj.Attempts = append(dj.Attempts, aj)
			}
			e.Deliveries = append(e.Deliveries, dj)
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) redeliverEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return badRequest("invalid_id", "id", "the event id must be a UUID, as listed by GET /payments/{id}/events")
	}
	if _, err := s.payments.Event(r.Context(), id); err != nil {
		if errors.Is(err, payments.ErrNotFound) {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no event has this id"}
		}
		return err
	}
	if s.webhooks == nil {
		return &Error{Status: http.StatusConflict, Code: "no_destination", Message: "webhooks are not configured"}
	}
	ids, err := s.webhooks.Redeliver(r.Context(), id)
	if errors.Is(err, webhook.ErrNotFound) {
		return &Error{Status: http.StatusConflict, Code: "no_destination",
			Message: "this event had no webhook destination when it happened; there is nothing to redeliver"}
	}
	if err != nil {
		return err
	}
	resp := redeliverResponse{Success: true, EventID: id.String(), Deliveries: make([]string, len(ids))}
	for i, d := range ids {
		resp.Deliveries[i] = d.String()
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}
