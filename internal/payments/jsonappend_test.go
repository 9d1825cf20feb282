package payments

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendJSONMatchesEncodingJSON holds the hand-written encoder of the
// public payment to encoding/json's bytes for every shape a payment takes:
// with and without outputs, expiry and block, odd amounts and odd text.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	hash, height := "00000000000000000000f2b1b9b8d2c7a1e0e4d8c6b3a291f0e8d7c6b5a49382", int64(812345)
	expires := time.Date(2026, 11, 29, 5, 0, 0, 123456789, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	base := PublicPaymentJSON{
		ID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", Currency: "LTC", Status: StatusUnpaid,
		Amount: 1050000000, AmountDue: 1050000000, PaymentAddress: "rltc1qxyz",
		PaymentURI: "litecoin:rltc1qxyz?amount=10.5", ConfirmationsRequired: 2,
		Transactions: []TransactionJSON{},
		CreatedAt:    time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC),
		UpdatedAt:    time.Date(2026, 11, 29, 4, 0, 1, 500000000, time.UTC),
	}
	cases := map[string]func(j *PublicPaymentJSON){
		"unpaid, no outputs": func(*PublicPaymentJSON) {},
		"nil transactions":   func(j *PublicPaymentJSON) { j.Transactions = nil },
		"expires":            func(j *PublicPaymentJSON) { j.ExpiresAt = &expires },
		"time in another zone": func(j *PublicPaymentJSON) {
			j.CreatedAt = j.CreatedAt.In(tokyo)
			e := expires.In(tokyo)
			j.ExpiresAt = &e
		},
		"paid, flags, outputs": func(j *PublicPaymentJSON) {
			j.Status, j.Overpaid, j.PaidLate, j.Settled = StatusPaid, true, true, true
			j.AmountReceived, j.AmountRecieved, j.AmountConfirmed, j.AmountDue = 1, 1, math.MaxInt64, 0
			j.Transactions = []TransactionJSON{
				{TxID: "ab", Vout: math.MaxUint32, Amount: 1, Confirmations: -1, State: "conflicted",
					FirstSeenAt: base.CreatedAt, ReceivedAt: base.UpdatedAt},
				{TxID: "cd", Vout: 0, Amount: 100000000, Confirmations: 6, State: "confirmed",
					BlockHash: &hash, BlockHeight: &height, FirstSeenAt: expires, ReceivedAt: expires},
			}
		},
		"negative amount": func(j *PublicPaymentJSON) { j.Amount = math.MinInt64 },
		"text to escape": func(j *PublicPaymentJSON) {
			j.PaymentURI = "a\"b\\c\n\r\t\b\f\x00\x1f\x7f<>&\u2028\u2029é€😀\xff\xc3(\xe2\x28\xa1"
			j.PaymentAddress = "<script>alert('x')</script>"
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			j := base
			j.Transactions = append([]TransactionJSON{}, base.Transactions...)
			edit(&j)
			want, err := json.Marshal(reflectedPublicPayment(j))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := j.AppendJSON(nil)
			if !ok {
				t.Fatal("AppendJSON: not ok")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
			}
		})
	}
	t.Run("year out of range", func(t *testing.T) {
		j := base
		j.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := json.Marshal(reflectedPublicPayment(j)); err == nil {
			t.Fatal("encoding/json accepted the year 10000; the test's premise is wrong")
		}
		if _, ok := j.AppendJSON(nil); ok {
			t.Error("AppendJSON of a year 10000 time: got ok, want not ok like encoding/json")
		}
	})
}

// TestAppendJSONStringMatchesEncodingJSON compares the string escaper with
// encoding/json's on random strings drawn mostly from the bytes it treats
// specially.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	special := []string{"\"", "\\", "<", ">", "&", "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f",
		"\u2028", "\u2029", "é", "€", "😀", "\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "a", "Z", " ", "/"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var s string
		for range rng.IntN(12) {
			s += special[rng.IntN(len(special))]
		}
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q):\n got %s\nwant %s", s, got, want)
		}
	}
}

// TestFullAppendJSONMatchesEncodingJSON does the same for the merchant's
// view, whose extra fields hold the merchant's own text and JSON.
func TestFullAppendJSONMatchesEncodingJSON(t *testing.T) {
	order, redirect := "order <7> & \u2028 \xff", "https://shop.example/thanks?a=1&b=2"
	expires := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	base := PaymentJSON{
		ID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", Currency: "DOGE", Status: StatusPartial,
		Amount: 1, AmountReceived: 2, AmountRecieved: 2, AmountConfirmed: 1, AmountDue: 0,
		PaymentAddress: "D123", PaymentURI: "dogecoin:D123?amount=0.00000001", Account: "acct \"x\"",
		ConfirmationsRequired: 0, Transactions: []TransactionJSON{},
		CreatedAt: expires, UpdatedAt: expires, Metadata: json.RawMessage(`{}`),
	}
	cases := map[string]func(j *PaymentJSON){
		"plain": func(*PaymentJSON) {},
		"every optional field": func(j *PaymentJSON) {
			j.OrderID, j.RedirectURL, j.ExpiresAt = &order, &redirect, &expires
			j.Metadata = json.RawMessage(`{"a": [1, 2.50, "x<y>&z"], "b": {"c": null, "d": "\u2028"}, "e": true}`)
		},
		"nil metadata": func(j *PaymentJSON) { j.Metadata = nil },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			j := base
			edit(&j)
			want, err := json.Marshal(reflectedPayment(j))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := j.AppendJSON(nil)
			if !ok {
				t.Fatal("AppendJSON: not ok")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
			}
		})
	}
	t.Run("metadata that is not JSON", func(t *testing.T) {
		j := base
		j.Metadata = json.RawMessage(`{"a":`)
		if _, err := json.Marshal(reflectedPayment(j)); err == nil {
			t.Fatal("encoding/json accepted broken metadata; the test's premise is wrong")
		}
		if _, ok := j.AppendJSON(nil); ok {
			t.Error("AppendJSON of broken metadata: got ok, want not ok like encoding/json")
		}
	})
}

// BenchmarkPublicPaymentJSON compares encoding/json with AppendJSON on a
// payment with one output, the public read's answer:
//
//	go test -run '^$' -bench BenchmarkPublicPaymentJSON ./internal/payments/
func BenchmarkPublicPaymentJSON(b *testing.B) {
	hash, height := "00000000000000000000f2b1b9b8d2c7a1e0e4d8c6b3a291f0e8d7c6b5a49382", int64(812345)
	now := time.Date(2026, 11, 29, 5, 0, 0, 123456000, time.UTC)
	j := PublicPaymentJSON{
		ID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", Currency: "LTC", Status: StatusPending,
		Amount: 1050000000, AmountReceived: 1050000000, AmountRecieved: 1050000000, PaymentAddress: "rltc1qxyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyz",
		PaymentURI: "litecoin:rltc1qxyzxyzxyzxyzxyzxyzxyzxyzxyzxyzxyz?amount=10.5", ConfirmationsRequired: 2,
		Transactions: []TransactionJSON{{TxID: hash, Vout: 1, Amount: 1050000000, Confirmations: 1, State: "confirmed",
			BlockHash: &hash, BlockHeight: &height, FirstSeenAt: now, ReceivedAt: now}},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: &now,
	}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(reflectedPublicPayment(j)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		for b.Loop() {
			if _, ok := j.AppendJSON(make([]byte, 0, 1024)); !ok {
				b.Fatal("not ok")
			}
		}
	})
}

// TestMarshalJSONIsEncodingJSON: a payment inside another value (an event
// payload) encodes through MarshalJSON to the bytes reflection gives, and
// a value AppendJSON cannot write fails as it does under reflection.
func TestMarshalJSONIsEncodingJSON(t *testing.T) {
	when := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	j := PaymentJSON{ID: "x", Currency: "LTC", Status: StatusUnpaid, Amount: 1, PaymentAddress: "a<b",
		Transactions: []TransactionJSON{}, CreatedAt: when, UpdatedAt: when, Metadata: json.RawMessage(`{"k": "<v>"}`)}
	type wrapped struct {
		Type    string      `json:"type"`
		Payment PaymentJSON `json:"payment"`
	}
	type reflectedWrapped struct {
		Type    string           `json:"type"`
		Payment reflectedPayment `json:"payment"`
	}
	got, err := json.Marshal(wrapped{"payment.created", j})
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(reflectedWrapped{"payment.created", reflectedPayment(j)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("payment inside an event:\n got %s\nwant %s", got, want)
	}
	pub, _ := json.Marshal(j.Public())
	if wantPub, _ := json.Marshal(reflectedPublicPayment(j.Public())); !bytes.Equal(pub, wantPub) {
		t.Errorf("public payment:\n got %s\nwant %s", pub, wantPub)
	}
	j.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(j); err == nil {
		t.Error("a year 10000 payment encoded; want encoding/json's error")
	}
}
