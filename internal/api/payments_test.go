package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
)

// TestPaymentBodiesMatchWriteJSON: the payment answers' hand-built bodies
// are byte for byte what writeJSON made of the same responses, headers
// included, and what encoding/json refuses still gets writeJSON's answer.
func TestPaymentBodiesMatchWriteJSON(t *testing.T) {
	hash, height := "ab12", int64(7)
	expires := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	order := "o-1 <&>"
	full := payments.PaymentJSON{
		ID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", Currency: "LTC", Status: payments.StatusPending,
		Amount: 150000000, AmountReceived: 150000000, AmountRecieved: 150000000, PaymentAddress: "rltc1q<&>",
		PaymentURI: "litecoin:rltc1q?amount=1.5", Account: "shop", ConfirmationsRequired: 6, ExpiresAt: &expires,
		Transactions: []payments.TransactionJSON{{TxID: "cd", Vout: 1, Amount: 150000000, Confirmations: 1,
			State: "confirmed", BlockHash: &hash, BlockHeight: &height, FirstSeenAt: expires, ReceivedAt: expires}},
		CreatedAt: time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 11, 29, 4, 5, 0, 1, time.UTC),
		OrderID: &order, Metadata: []byte(`{"cart": [1, 2], "note": "<b>"}`),
	}
	bad := full
	bad.UpdatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, j := range map[string]payments.PaymentJSON{"payment": full, "unencodable time": bad} {
		t.Run(name, func(t *testing.T) {
			compare := func(view string, write, want func(w http.ResponseWriter)) {
				got, exp := httptest.NewRecorder(), httptest.NewRecorder()
				write(got)
				want(exp)
				if got.Code != exp.Code || !bytes.Equal(got.Body.Bytes(), exp.Body.Bytes()) {
					t.Errorf("%s: hand-built: %d %s\nwriteJSON: %d %s", view, got.Code, got.Body, exp.Code, exp.Body)
				}
				for _, h := range []string{"Content-Type", "Content-Length"} {
					if g, w := got.Header().Get(h), exp.Header().Get(h); g != w {
						t.Errorf("%s: %s: got %q, want %q", view, h, g, w)
					}
				}
			}
			compare("public", func(w http.ResponseWriter) { writePublicPayment(w, j.Public()) },
				func(w http.ResponseWriter) {
					writeJSON(w, http.StatusOK, publicPaymentResponse{Success: true, Payment: j.Public()})
				})
			compare("full", func(w http.ResponseWriter) { writePayment(w, http.StatusCreated, j) },
				func(w http.ResponseWriter) {
					writeJSON(w, http.StatusCreated, apiwire.PaymentResponse{Success: true, Payment: j})
				})
		})
	}
}

// TestPublicReadShowsTheCommittedStatus: a status committed to the
// database is what the very next public read answers (nothing on the read
// path may keep an older copy).
func TestPublicReadShowsTheCommittedStatus(t *testing.T) {
	a := newAPI(t)
	id := a.create(`{"currency":"LTC","amount":1}`)["id"].(string)
	for _, status := range []payments.Status{payments.StatusPartial, payments.StatusPending, payments.StatusPaid} {
		if _, err := a.pool.Exec(t.Context(), `UPDATE payments SET status = $2 WHERE id = $1`, id, string(status)); err != nil {
			t.Fatal(err)
		}
		r := a.do("GET", "/payments/"+id, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET: status %d: %s", r.status, r.body)
		}
		if got := r.json(t)["payment"].(map[string]any)["status"]; got != string(status) {
			t.Errorf("status after committing %s: got %v, want %s", status, got, status)
		}
	}
}
