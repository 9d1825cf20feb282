package greenfield

// This file belongs to the Greenfield webhooks work (branch gfhooks), which
// replaces it: webhook CRUD, deliveries, redelivery and the event hook that
// builds the webhook envelopes live in webhook*.go. These stubs let the
// rest of the package build and run without webhooks.

import (
	"context"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// webhookRoutes mounts the webhook routes under /api/v1/stores/{storeId}
// (r is that subrouter; authentication has run, and each route checks its
// own permission with Require(PermModifyWebhooks)). The stub mounts
// nothing.
func (s *Service) webhookRoutes(r chi.Router) { _ = r }

// AddWebhooks registers the webhook event hook on pay and the webhook
// transport on ob. The stub registers nothing.
func (s *Service) AddWebhooks(pay *payments.Service, ob *webhook.Outbox) { _, _ = pay, ob }

// webhookMarked queues InvoiceSettled or InvoiceInvalid (status) with
// manuallyMarked true for p's invoice, inside tx, the transaction that
// marks the invoice. The stub queues nothing.
func (s *Service) webhookMarked(ctx context.Context, tx pgx.Tx, p *payments.Payment, status string) error {
	_, _, _, _ = ctx, tx, p, status
	return nil
}
