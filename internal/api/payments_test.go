package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
)

// TestPublicPaymentBodyMatchesWriteJSON: the public read's hand-built body
// is byte for byte what writeJSON made of the same response, headers
// included, and a time encoding/json refuses still gets writeJSON's answer.
func TestPublicPaymentBodyMatchesWriteJSON(t *testing.T) {
	hash, height := "ab12", int64(7)
	expires := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	j := payments.PublicPaymentJSON{
		ID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", Currency: "LTC", Status: payments.StatusPending,
		Amount: 150000000, AmountReceived: 150000000, AmountRecieved: 150000000, PaymentAddress: "rltc1q<&>",
		PaymentURI: "litecoin:rltc1q?amount=1.5", ConfirmationsRequired: 6, ExpiresAt: &expires,
		Transactions: []payments.TransactionJSON{{TxID: "cd", Vout: 1, Amount: 150000000, Confirmations: 1,
			State: "confirmed", BlockHash: &hash, BlockHeight: &height, FirstSeenAt: expires, ReceivedAt: expires}},
		CreatedAt: time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 11, 29, 4, 5, 0, 1, time.UTC),
	}
	bad := j
	bad.UpdatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, j := range map[string]payments.PublicPaymentJSON{"payment": j, "unencodable time": bad} {
		t.Run(name, func(t *testing.T) {
			got, want := httptest.NewRecorder(), httptest.NewRecorder()
			writePublicPayment(got, j)
			writeJSON(want, http.StatusOK, publicPaymentResponse{Success: true, Payment: j})
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("writePublicPayment: %d %s\nwriteJSON: %d %s", got.Code, got.Body, want.Code, want.Body)
			}
			for _, h := range []string{"Content-Type", "Content-Length"} {
				if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
					t.Errorf("%s: got %q, want %q", h, g, w)
				}
			}
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
