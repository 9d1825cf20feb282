package greenfield

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/webhook"
)

// Limits of the webhook routes.
const (
	maxSecretLen       = 256
	defaultDeliveries  = 50
	maxDeliveries      = 1000
	codeDeliveryAbsent = "webhookdelivery-not-found"
)

// webhookRoutes mounts the webhook routes on r, the /api/v1 subrouter
// (authentication has run); every one needs
// btcpay.store.webhooks.canmodifywebhooks for the store.
func (s *Service) webhookRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.Require(PermModifyWebhooks))
		r.Get("/stores/{storeId}/webhooks", s.handle(s.listWebhooks))
		r.Post("/stores/{storeId}/webhooks", s.handle(s.postWebhook))
		r.Get("/stores/{storeId}/webhooks/{webhookId}", s.handle(s.getWebhook))
		r.Put("/stores/{storeId}/webhooks/{webhookId}", s.handle(s.putWebhook))
		r.Delete("/stores/{storeId}/webhooks/{webhookId}", s.handle(s.removeWebhook))
		r.Get("/stores/{storeId}/webhooks/{webhookId}/deliveries", s.handle(s.listDeliveries))
		r.Get("/stores/{storeId}/webhooks/{webhookId}/deliveries/{deliveryId}", s.handle(s.getDelivery))
		r.Get("/stores/{storeId}/webhooks/{webhookId}/deliveries/{deliveryId}/request", s.handle(s.deliveryRequest))
		r.Post("/stores/{storeId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", s.handle(s.redeliverDelivery))
	})
}

// webhookJSON is a webhook as the API shows it (BTCPay's WebhookData);
// Secret is set only in the answer to a create.
type webhookJSON struct {
	ID                  string               `json:"id"`
	Enabled             bool                 `json:"enabled"`
	AutomaticRedelivery bool                 `json:"automaticRedelivery"`
	URL                 string               `json:"url"`
	AuthorizedEvents    authorizedEventsJSON `json:"authorizedEvents"`
	Secret              *string              `json:"secret,omitempty"`
}

type authorizedEventsJSON struct {
	Everything     bool     `json:"everything"`
	SpecificEvents []string `json:"specificEvents"`
}

func newWebhookJSON(w *Webhook, withSecret bool) webhookJSON {
	out := webhookJSON{
		ID:                  w.ID,
		Enabled:             w.Enabled,
		AutomaticRedelivery: w.AutomaticRedelivery,
		URL:                 w.URL,
		AuthorizedEvents:    authorizedEventsJSON{Everything: w.Everything, SpecificEvents: w.SpecificEvents},
	}
	if out.AuthorizedEvents.SpecificEvents == nil {
		out.AuthorizedEvents.SpecificEvents = []string{}
	}
	if withSecret {
		secret := w.Secret
		out.Secret = &secret
	}
	return out
}

// decodeWebhook reads and checks a create or update body (BTCPay's
// WebhookDataBase plus secret) into a Webhook of store storeID. Absent or
// null members take BTCPay's defaults (enabled, automaticRedelivery and
// authorizedEvents.everything true); id and unknown members are ignored, as
// BTCPay does. Secret stays "" when none was given.
func (s *Service) decodeWebhook(r *http.Request, storeID string) (*Webhook, error) {
	_, m, err := readBody(r)
	if err != nil {
		return nil, err
	}
	w := &Webhook{StoreID: storeID, Enabled: true, AutomaticRedelivery: true, Everything: true}
	var errs ValidationError
	add := func(err error) {
		var v ValidationError
		if errors.As(err, &v) {
			errs = append(errs, v...)
		}
	}
	url, err := optString("url", m["url"])
	switch {
	case err != nil:
		add(err)
	case url == nil || *url == "":
		errs = append(errs, FieldError{Path: "url", Message: "url is required"})
	case strings.TrimSpace(*url) != *url:
		errs = append(errs, FieldError{Path: "url", Message: "url must not begin or end with white space"})
	default:
		if err := webhook.ValidateCallbackURL(*url, s.cfg.AllowPrivateWebhooks); err != nil {
			errs = append(errs, FieldError{Path: "url", Message: "url is not usable: " + err.Error()})
		}
		w.URL = *url
	}
	for name, dst := range map[string]*bool{"enabled": &w.Enabled, "automaticRedelivery": &w.AutomaticRedelivery} {
		if !isNull(m[name]) {
			add(decodeMember(name, m[name], dst, "true, false or null"))
		}
	}
	if raw := m["authorizedEvents"]; !isNull(raw) {
		var ae map[string]json.RawMessage
		if err := decodeMember("authorizedEvents", raw, &ae, "an object or null"); err != nil {
			add(err)
		} else {
			if !isNull(ae["everything"]) {
				add(decodeMember("authorizedEvents.everything", ae["everything"], &w.Everything, "true, false or null"))
			}
			var types []string
			if !isNull(ae["specificEvents"]) {
				if err := decodeMember("authorizedEvents.specificEvents", ae["specificEvents"], &types, "an array of event type names or null"); err != nil {
					add(err)
				} else if bad := unknownEvent(types); bad != "" {
					errs = append(errs, FieldError{Path: "authorizedEvents.specificEvents",
						Message: "unknown event type " + strconv.QuoteToASCII(bad) + "; the types are " + strings.Join(WebhookTypes, ", ")})
				}
			}
			for _, t := range types {
				if knownType(t) && !slices.Contains(w.SpecificEvents, t) {
					w.SpecificEvents = append(w.SpecificEvents, t)
				}
			}
		}
	}
	if raw := m["secret"]; !isNull(raw) {
		var secret string
		switch {
		case decodeMember("secret", raw, &secret, "a string or null") != nil:
			errs = append(errs, FieldError{Path: "secret", Message: "secret must be a string or null"})
		case len(secret) > maxSecretLen || !payments.ValidText(secret):
			errs = append(errs, FieldError{Path: "secret",
				Message: "secret must be text of at most " + strconv.Itoa(maxSecretLen) + " bytes, without NUL characters"})
		default:
			w.Secret = secret
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return w, nil
}

func (s *Service) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.webhooks(r.Context(), StoreFrom(r.Context()).ID)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(list))
	for i, h := range list {
		out[i] = newWebhookJSON(h, false)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) postWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.outbox == nil {
		return Fail(http.StatusServiceUnavailable, CodeUnavailable, "webhooks are not configured on this server")
	}
	h, err := s.decodeWebhook(r, StoreFrom(r.Context()).ID)
	if err != nil {
		return err
	}
	if err := s.createWebhook(r.Context(), h); err != nil {
		return err
	}
	// The secret is shown here and never again.
	WriteJSON(w, http.StatusOK, newWebhookJSON(h, true))
	return nil
}

// storeWebhook loads the webhook named by the request's {webhookId}.
func (s *Service) storeWebhook(r *http.Request) (*Webhook, error) {
	h, err := s.webhook(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "webhookId"))
	if errors.Is(err, ErrWebhookNotFound) {
		return nil, Fail(http.StatusNotFound, CodeWebhookNotFound, "the webhook was not found")
	}
	return h, err
}

func (s *Service) getWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.storeWebhook(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, newWebhookJSON(h, false))
	return nil
}

func (s *Service) putWebhook(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.storeWebhook(r); err != nil {
		return err
	}
	h, err := s.decodeWebhook(r, StoreFrom(r.Context()).ID)
	if err != nil {
		return err
	}
	h.ID = chi.URLParam(r, "webhookId")
	// An empty or absent secret keeps the stored one.
	out, err := s.updateWebhook(r.Context(), h)
	if errors.Is(err, ErrWebhookNotFound) {
		return Fail(http.StatusNotFound, CodeWebhookNotFound, "the webhook was not found")
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, newWebhookJSON(out, false))
	return nil
}

func (s *Service) removeWebhook(w http.ResponseWriter, r *http.Request) error {
	err := s.deleteWebhook(r.Context(), StoreFrom(r.Context()).ID, chi.URLParam(r, "webhookId"))
	if errors.Is(err, ErrWebhookNotFound) {
		return Fail(http.StatusNotFound, CodeWebhookNotFound, "the webhook was not found")
	}
	if err != nil {
		return err
	}
	// BTCPay answers 200 with an empty body; the PHP library checks the
	// status only.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// deliveryJSON is a delivery as the API shows it (BTCPay's
// WebhookDeliveryData). status is HttpSuccess, HttpError (the receiver
// answered otherwise) or Failed (no answer), as in BTCPay, and Pending for
// a delivery not attempted yet (BTCPay records a delivery only once sent).
type deliveryJSON struct {
	ID            string  `json:"id"`
	Timestamp     int64   `json:"timestamp"`
	SentTimestamp *int64  `json:"sentTimestamp"`
	HTTPCode      *int    `json:"httpCode"`
	ErrorMessage  *string `json:"errorMessage"`
	Status        string  `json:"status"`
}

func newDeliveryJSON(d *Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Timestamp: d.CreatedAt.Unix(), HTTPCode: d.HTTPCode}
	if d.SentAt != nil {
		t := d.SentAt.Unix()
		out.SentTimestamp = &t
	}
	if d.LastError != "" && d.State != webhook.StateDelivered {
		msg := d.LastError
		out.ErrorMessage = &msg
	}
	switch {
	case d.State == webhook.StateDelivered:
		out.Status = "HttpSuccess"
	case d.SentAt == nil:
		out.Status = "Pending"
	case d.HTTPCode != nil:
		out.Status = "HttpError"
	default:
		out.Status = "Failed"
	}
	return out
}

func (s *Service) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	count := defaultDeliveries
	if q := r.URL.Query(); q.Has("count") {
		n, err := strconv.Atoi(q.Get("count"))
		if err != nil || n < 1 || n > maxDeliveries {
			return Invalid("count", "count must be a whole number from 1 to %d", maxDeliveries)
		}
		count = n
	}
	h, err := s.storeWebhook(r)
	if err != nil {
		return err
	}
	list, err := s.deliveries(r.Context(), h.ID, count)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(list))
	for i, d := range list {
		out[i] = newDeliveryJSON(d)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// webhookDelivery loads the webhook and delivery the request names.
func (s *Service) webhookDelivery(r *http.Request) (*Webhook, *Delivery, error) {
	h, err := s.storeWebhook(r)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.delivery(r.Context(), h.ID, chi.URLParam(r, "deliveryId"))
	if errors.Is(err, ErrDeliveryNotFound) {
		return nil, nil, Fail(http.StatusNotFound, codeDeliveryAbsent, "the webhook delivery was not found")
	}
	return h, d, err
}

func (s *Service) getDelivery(w http.ResponseWriter, r *http.Request) error {
	_, d, err := s.webhookDelivery(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, newDeliveryJSON(d))
	return nil
}

// deliveryRequest answers the delivery's body, byte for byte as sent.
func (s *Service) deliveryRequest(w http.ResponseWriter, r *http.Request) error {
	_, d, err := s.webhookDelivery(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d.Body)
	return nil
}

// redeliverDelivery queues the delivery again and answers the new
// delivery's id as a JSON string, as BTCPay does.
func (s *Service) redeliverDelivery(w http.ResponseWriter, r *http.Request) error {
	h, d, err := s.webhookDelivery(r)
	if err != nil {
		return err
	}
	id, err := s.redeliver(r.Context(), h, d)
	if errors.Is(err, ErrWebhooksOff) {
		return Fail(http.StatusServiceUnavailable, CodeUnavailable, "webhooks are not configured on this server")
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, id)
	return nil
}
