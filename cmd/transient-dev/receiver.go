package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/transient-gateway/transient/webhooksig"
)

// receiver is a webhook endpoint that prints one line per webhook: the
// event, the payment, its status change, the amount received and whether
// the signature verifies with the stack's secret.
type receiver struct {
	url    string
	secret []byte
	now    func() time.Time
	srv    *http.Server

	mu  sync.Mutex // serializes lines
	out io.Writer
}

// newReceiver returns the printing receiver as a handler, for a server
// the caller runs.
func newReceiver(secret []byte, out io.Writer) *receiver {
	return &receiver{secret: secret, now: time.Now, out: out}
}

// startReceiver listens on a free port of 127.0.0.1 and serves webhooks at
// /webhook until Close.
func startReceiver(secret []byte, out io.Writer) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := newReceiver(secret, out)
	r.url = "http://" + ln.Addr().String() + "/webhook"
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops the receiver.
func (r *receiver) Close() error { return r.srv.Close() }

// event is the part of the webhook body the receiver prints.
type event struct {
	Type           string `json:"type"`
	PaymentID      string `json:"payment_id"`
	Status         string `json:"status"`
	PreviousStatus string `json:"previous_status"`
	Payment        struct {
		Currency       string      `json:"currency"`
		Amount         json.Number `json:"amount"`
		AmountReceived json.Number `json:"amount_received"`
	} `json:"payment"`
}

// ServeHTTP prints the webhook and answers 204, so transientd counts it as
// delivered even when its signature does not verify: the line says so.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/webhook" {
		http.Error(w, "POST /webhook only", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	sig := "signature ok"
	if err := webhooksig.Verify(r.secret, req.Header.Get(webhooksig.Header), body, r.now(), 0); err != nil {
		sig = "signature INVALID: " + err.Error()
	}
	var line string
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		line = fmt.Sprintf("unreadable body (%v): %.200s; %s", err, body, sig)
	} else {
		line = fmt.Sprintf("%s: payment %s %s -> %s, received %s of %s %s; %s",
			ev.Type, ev.PaymentID, ev.PreviousStatus, ev.Status,
			ev.Payment.AmountReceived, ev.Payment.Amount, ev.Payment.Currency, sig)
	}
	r.mu.Lock()
	fmt.Fprintf(r.out, "webhook    | %s\n", line)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
