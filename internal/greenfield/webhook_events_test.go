package greenfield

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/transient-gateway/transient/internal/payments"
)

// testPayment is a 1 LTC payment needing 2 confirmations with outputs of
// the given confirmations (each 0.6 LTC unless amounts says otherwise).
func testPayment(status payments.Status, confs ...int64) *payments.Payment {
	t0 := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	p := &payments.Payment{
		ID: uuid.MustParse("3f8f0c1e-8a55-4b8e-9a53-0b6c2f1d7e11"), Coin: "LTC", Amount: 100_000_000,
		Address: "rltc1qexample", Status: status, Confirmations: 2, SettleConfirmations: 6,
		CreatedAt: t0,
	}
	for i, c := range confs {
		p.Outputs = append(p.Outputs, payments.Output{
			TxID: "aa" + string(rune('0'+i)), Vout: uint32(i), Amount: 60_000_000, Confirmations: c,
			FirstSeenAt: t0.Add(time.Duration(i+1) * time.Minute), ReceivedAt: t0.Add(time.Duration(i+1) * time.Minute),
		})
		p.Received += 60_000_000
		if c >= 2 {
			p.Confirmed += 60_000_000
		}
	}
	return p
}

func statusOf(marked string) func(*payments.Payment) string {
	return func(p *payments.Payment) string {
		st, _ := InvoiceStatus(p, marked)
		return st
	}
}

func TestHookEvents(t *testing.T) {
	type want struct {
		typ   string
		flags string // the type's booleans that are true, e.g. "overPaid"
		txid  string // the payment's output, "" for none
	}
	changed := func(prev, now payments.Status) *payments.Event {
		return &payments.Event{Type: payments.EventStatusChanged, PreviousStatus: prev, Status: now}
	}
	cases := []struct {
		name   string
		ev     *payments.Event
		p      *payments.Payment
		marked string
		want   []want
	}{
		{"created", &payments.Event{Type: payments.EventCreated, Status: payments.StatusUnpaid},
			testPayment(payments.StatusUnpaid), "", []want{{TypeInvoiceCreated, "", ""}}},
		{"first partial payment", changed(payments.StatusUnpaid, payments.StatusPartial),
			testPayment(payments.StatusPartial, 0), "", []want{{TypeInvoiceReceivedPayment, "", "aa0"}}},
		{"paid in full unconfirmed", changed(payments.StatusUnpaid, payments.StatusPending),
			testPayment(payments.StatusPending, 0, 0), "",
			[]want{{TypeInvoiceReceivedPayment, "", "aa1"}, {TypeInvoiceProcessing, "", ""}}},
		{"partial completed", changed(payments.StatusPartial, payments.StatusPending),
			testPayment(payments.StatusPending, 1, 0), "",
			[]want{{TypeInvoiceReceivedPayment, "", "aa1"}, {TypeInvoiceProcessing, "", ""}}},
		{"first seen already confirmed", changed(payments.StatusUnpaid, payments.StatusPaid),
			testPayment(payments.StatusPaid, 3, 2), "",
			[]want{{TypeInvoiceReceivedPayment, "", "aa1"}, {TypeInvoiceProcessing, "", ""},
				{TypeInvoicePaymentSettled, "", "aa1"}, {TypeInvoiceSettled, "", ""}}},
		{"confirmed", changed(payments.StatusPending, payments.StatusPaid),
			testPayment(payments.StatusPaid, 2, 2), "",
			[]want{{TypeInvoicePaymentSettled, "", "aa1"}, {TypeInvoiceSettled, "", ""}}},
		{"reorg back to pending", changed(payments.StatusPaid, payments.StatusPending),
			testPayment(payments.StatusPending, 0, 0), "", nil},
		{"double spend back to partial", changed(payments.StatusPending, payments.StatusPartial),
			testPayment(payments.StatusPartial, 0), "", nil},
		{"expired unpaid", changed(payments.StatusUnpaid, payments.StatusExpired),
			testPayment(payments.StatusExpired), "", []want{{TypeInvoiceExpired, "", ""}}},
		{"expired partly paid", changed(payments.StatusPartial, payments.StatusExpired),
			testPayment(payments.StatusExpired, 1), "", []want{{TypeInvoiceExpired, "partiallyPaid", ""}}},
		{"invalid after the monitoring window", changed(payments.StatusPending, payments.StatusInvalid),
			testPayment(payments.StatusInvalid, 0, 0), "", []want{{TypeInvoiceInvalid, "", ""}}},
		{"paid late", &payments.Event{Type: payments.EventPaidLate, PreviousStatus: payments.StatusExpired, Status: payments.StatusExpired},
			func() *payments.Payment { p := testPayment(payments.StatusExpired, 0, 0); p.PaidLate = true; return p }(), "",
			[]want{{TypeInvoiceReceivedPayment, "afterExpiration", "aa1"}}},
		{"settle depth reached: already Settled", &payments.Event{Type: payments.EventSettled, PreviousStatus: payments.StatusPaid, Status: payments.StatusPaid},
			func() *payments.Payment { p := testPayment(payments.StatusPaid, 6, 6); p.Settled = true; return p }(), "", nil},
		{"unsettled by a reorg", &payments.Event{Type: payments.EventUnsettled, PreviousStatus: payments.StatusPaid, Status: payments.StatusPaid},
			testPayment(payments.StatusPaid, 3, 3), "", nil},
		{"overpaid processing", changed(payments.StatusUnpaid, payments.StatusPending),
			func() *payments.Payment { p := testPayment(payments.StatusPending, 0, 0); p.Overpaid = true; return p }(), "",
			[]want{{TypeInvoiceReceivedPayment, "", "aa1"}, {TypeInvoiceProcessing, "overPaid", ""}}},
		{"overpaid settled", changed(payments.StatusPending, payments.StatusPaid),
			func() *payments.Payment { p := testPayment(payments.StatusPaid, 2, 2); p.Overpaid = true; return p }(), "",
			[]want{{TypeInvoicePaymentSettled, "", "aa1"}, {TypeInvoiceSettled, "overPaid", ""}}},
		{"marked invalid, then confirmed: no Settled", changed(payments.StatusPending, payments.StatusPaid),
			testPayment(payments.StatusPaid, 2, 2), StatusInvalid, nil},
		{"marked settled, then paid: the payment is still announced", changed(payments.StatusUnpaid, payments.StatusPending),
			testPayment(payments.StatusPending, 0, 0), StatusSettled, []want{{TypeInvoiceReceivedPayment, "", "aa1"}}},
		{"a conflicted output is never the payment", changed(payments.StatusUnpaid, payments.StatusPartial),
			func() *payments.Payment {
				p := testPayment(payments.StatusPartial, 0, -1)
				p.Outputs[1].Conflicted = true
				return p
			}(), "", []want{{TypeInvoiceReceivedPayment, "", "aa0"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hookEvents(c.ev, c.p, statusOf(c.marked))
			var gotW []want
			for _, e := range got {
				w := want{typ: e.Type}
				var flags []string
				if e.AfterExpiration {
					flags = append(flags, "afterExpiration")
				}
				if e.OverPaid {
					flags = append(flags, "overPaid")
				}
				if e.ManuallyMarked {
					flags = append(flags, "manuallyMarked")
				}
				if e.PartiallyPaid {
					flags = append(flags, "partiallyPaid")
				}
				if len(flags) > 0 {
					w.flags = flags[0]
				}
				if len(flags) > 1 {
					t.Errorf("%s: more than one flag: %v", e.Type, flags)
				}
				if e.Output != nil {
					w.txid = e.Output.TxID
				}
				gotW = append(gotW, w)
			}
			if !reflect.DeepEqual(gotW, c.want) {
				t.Errorf("got %+v, want %+v", gotW, c.want)
			}
		})
	}
}

// TestBuildBodyTypes checks every type's body as the PHP library reads it:
// strings, booleans and integer unix times, with each type's own fields
// and no other type's.
func TestBuildBodyTypes(t *testing.T) {
	p := testPayment(payments.StatusPaid, 3, 2)
	inv := invoiceRef{StoreID: "store1", InvoiceID: p.ID.String(),
		Metadata: json.RawMessage(`{"orderId":"42","posData":"{\"a\":1}","taxIncluded":0.5}`)}
	at := time.Unix(1_790_000_000, 0)
	own := map[string][]string{
		TypeInvoiceCreated:         nil,
		TypeInvoiceReceivedPayment: {"afterExpiration", "paymentMethodId", "payment"},
		TypeInvoicePaymentSettled:  {"afterExpiration", "paymentMethodId", "payment"},
		TypeInvoiceProcessing:      {"overPaid"},
		TypeInvoiceSettled:         {"manuallyMarked", "overPaid"},
		TypeInvoiceInvalid:         {"manuallyMarked"},
		TypeInvoiceExpired:         {"partiallyPaid"},
	}
	envelope := []string{"deliveryId", "webhookId", "originalDeliveryId", "isRedelivery", "type", "timestamp",
		"storeId", "invoiceId", "metadata"}
	for _, typ := range WebhookTypes {
		t.Run(typ, func(t *testing.T) {
			e := hookEvent{Type: typ, Output: &p.Outputs[1]}
			body, err := buildBody(e, inv, p, "hook1", "deliv1", at)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			wantKeys := append(slices.Clone(envelope), own[typ]...)
			var gotKeys []string
			for k := range m {
				gotKeys = append(gotKeys, k)
			}
			slices.Sort(gotKeys)
			slices.Sort(wantKeys)
			if !slices.Equal(gotKeys, wantKeys) {
				t.Fatalf("keys %v, want %v", gotKeys, wantKeys)
			}
			for k, want := range map[string]string{
				"deliveryId": `"deliv1"`, "webhookId": `"hook1"`, "originalDeliveryId": `"deliv1"`,
				"isRedelivery": `false`, "type": `"` + typ + `"`, "timestamp": `1790000000`,
				"storeId": `"store1"`, "invoiceId": `"` + p.ID.String() + `"`,
				"metadata": `{"orderId":"42","posData":"{\"a\":1}","taxIncluded":0.5}`,
			} {
				if string(m[k]) != want {
					t.Errorf("%s = %s, want %s", k, m[k], want)
				}
			}
			for _, k := range own[typ] {
				switch k {
				case "paymentMethodId":
					if string(m[k]) != `"LTC-CHAIN"` {
						t.Errorf("%s = %s", k, m[k])
					}
				case "payment":
					var pay map[string]json.RawMessage
					if err := json.Unmarshal(m[k], &pay); err != nil {
						t.Fatal(err)
					}
					for pk, want := range map[string]string{
						"id": `"aa1-1"`, "receivedDate": jsonInt(p.Outputs[1].ReceivedAt.Unix()), "value": `"0.6"`, "fee": `"0"`,
						"status": `"Settled"`, "destination": `"rltc1qexample"`,
					} {
						if string(pay[pk]) != want {
							t.Errorf("payment.%s = %s, want %s", pk, pay[pk], want)
						}
					}
				default:
					if string(m[k]) != "false" {
						t.Errorf("%s = %s, want false", k, m[k])
					}
				}
			}
		})
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBuildBodyEmptyMetadata(t *testing.T) {
	p := testPayment(payments.StatusUnpaid)
	for _, meta := range []json.RawMessage{nil, json.RawMessage(`null`)} {
		body, err := buildBody(hookEvent{Type: TypeInvoiceCreated}, invoiceRef{StoreID: "s", InvoiceID: "i", Metadata: meta},
			p, "h", "d", time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(body, []byte(`"metadata":{}`)) {
			t.Errorf("metadata %s: body %s, want metadata {}", meta, body)
		}
	}
}

func TestRedeliveryBody(t *testing.T) {
	p := testPayment(payments.StatusPending, 0)
	first, err := buildBody(hookEvent{Type: TypeInvoiceProcessing, OverPaid: true},
		invoiceRef{StoreID: "s", InvoiceID: "i", Metadata: json.RawMessage(`{"orderId":"7"}`)}, p, "h", "d1", time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	again, err := redeliveryBody(first, "d2", time.Unix(200, 0))
	if err != nil {
		t.Fatal(err)
	}
	// A redelivery of a redelivery still names the first delivery.
	third, err := redeliveryBody(again, "d3", time.Unix(300, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deliveryId":"d3","webhookId":"h","originalDeliveryId":"d1","isRedelivery":true,"type":"InvoiceProcessing",` +
		`"timestamp":300,"storeId":"s","invoiceId":"i","metadata":{"orderId":"7"},"overPaid":true}`
	if string(third) != want {
		t.Errorf("got  %s\nwant %s", third, want)
	}
	if !bytes.Contains(again, []byte(`"deliveryId":"d2","webhookId":"h","originalDeliveryId":"d1","isRedelivery":true`)) {
		t.Errorf("second delivery %s", again)
	}
}

func TestSign(t *testing.T) {
	// RFC 4231 test case 2.
	got := Sign("Jefe", []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestValidToken(t *testing.T) {
	for i := 0; i < 20; i++ {
		if id := randomToken(webhookIDBytes); !validToken(id) {
			t.Errorf("generated id %q refused", id)
		}
	}
	for _, bad := range []string{"", "abc", "ABCDEFGHIJKLMNOPQRSTUVWX", "abcdefghijklmnopqrstuvw1", "abcdefghijklmnopqrstuvwx2",
		"abcdefghijklmnopqrstuvw\x00", "abcdefghijklmnopqrstuv\xc3\xa9"} {
		if validToken(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestWebhookHookSkipsOtherAPIs: the Greenfield webhook hook skips, without
// a query (it is given no transaction), the events of a payment another
// API made; one whose API was not recorded is looked up as before (the
// webhook tests cover that path with invoices).
func TestWebhookHookSkipsOtherAPIs(t *testing.T) {
	s := New(Config{})
	ev := &payments.Event{Type: payments.EventStatusChanged, PreviousStatus: payments.StatusUnpaid, Status: payments.StatusPending}
	for _, api := range []string{payments.APITransient, "bitpay"} {
		ds, err := s.webhookDestinations(context.Background(), nil, &payments.Payment{API: api}, ev)
		if err != nil || ds != nil {
			t.Errorf("event of a payment made by %q: %v, %v; want nothing", api, ds, err)
		}
	}
}
