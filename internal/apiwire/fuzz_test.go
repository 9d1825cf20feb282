package apiwire_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/transient-gateway/transient/internal/apiwire"
	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// createSeeds are payment creation bodies: good ones, and each way of
// getting one wrong that the API must refuse with a 400.
var createSeeds = []string{
	`{"currency":"LTC","amount":"0.01"}`,
	`{"currency":"ltc","amount":10.5,"account":"a","order_id":"o-1","metadata":{"a":[1,{"b":null}],"c":"\u00e9"},` +
		`"expires_in":600,"confirmations":2,"callback_url":"https://shop.example/cb","redirect_url":"https://shop.example/ok"}`,
	`{"currency":"LTC","amount":"0.01","expires_at":"2030-01-02T15:04:05Z"}`,
	`{"currency":"LTC","amount":21000001}`, `{"currency":"LTC","amount":92233720368.54775808}`, `{"currency":"LTC","amount":1e308}`,
	`{"currency":"LTC","amount":-1}`, `{"currency":"LTC","amount":"NaN"}`, `{"currency":"LTC","amount":NaN}`,
	`{"currency":"LTC","amount":"0.01","order_id":"a\u0000b"}`, `{"currency":"LTC","amount":"0.01","account":"\ud800"}`, `{"currency":"LTC","amount":"0.01","metadata":{"a":"\ud800"}}`,
	"{\"currency\":\"LTC\",\"amount\":\"0.01\",\"account\":\"\xff\"}", `{"currency":"LTC","amount":"0.01","metadata":{"a":1e400}}`,
	`{"currency":"LTC","amount":"0.01","metadata":[]}`, `{"currency":"LTC","amount":"0.01","metadata":"x"}`,
	`{"currency":"LTC","amount":"0.01","expires_in":9223372036854775808}`, `{"currency":"LTC","amount":"0.01","expires_in":-1}`,
	`{"currency":"LTC","amount":"0.01","confirmations":1001}`, `{"currency":"LTC","amount":"0.01","expires_at":"tomorrow"}`,
	`{"currency":"LTC","amount":"0.01","expires_in":60,"expires_at":"2030-01-02T15:04:05Z"}`,
	`{"currency":"LTC","amount":"0.01","expires_at":"0001-01-01T00:00:00Z"}`, `{"currency":"LTC","amount":"0.01","expires_at":"9999-12-31T23:59:59Z"}`,
	`{"currency":"LTC","amount":"0.01","callback_url":"http://[::1]/x"}`, `{"currency":"LTC","amount":"0.01","redirect_url":"javascript:alert(1)"}`,
	`{"currency":"LTC","amount":"0.01","nope":1}`, `{"currency":1,"amount":"0.01"}`, `{"currency":"LTC"}`, `{}`, `[]`, `null`,
	`{"currency":"LTC","amount":"0.01"}{}`, `{"currency":"LTC","amount":"0.01"`, ``, `{"metadata":` + strings.Repeat("[", 10000),
	`{"currency":"LTC","amount":"0.01","account":"` + strings.Repeat("x", 256) + `"}`,
}

// FuzzCreatePayment runs a creation body through the path the HTTP API
// and the AMQP command share (Decode, CreateRequest, Service.Create) on a
// real database. Every refusal is a 4xx with a code, found by validation
// (never a value PostgreSQL refuses: that would be a body accepted and then
// not stored); an accepted body is stored and reads back as it was sent.
func FuzzCreatePayment(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	pool := pgtest.NewPool(f)
	svc := payments.NewService(pool, payments.Config{Coins: []payments.Coin{
		{Code: "LTC", Node: &regtest.AddressOnly{}, Confirmations: 3, URIScheme: "litecoin"}}})
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := create(svc, body)
		if err != nil {
			e := apiwire.Classify(err)
			if e.Status < 400 || e.Status >= 500 || e.Code == "" || e.Message == "" {
				t.Fatalf("%q: %d %q %q (%v), want a 4xx with a code", body, e.Status, e.Code, e.Message, err)
			}
			if payments.DatabaseRefusedInput(err) {
				t.Fatalf("%q passed validation but the database refused it: %v", body, err)
			}
			return
		}
		if !utf8.Valid(body) || payments.LoneSurrogate(body) {
			t.Fatalf("%q is not UTF-8 or holds a lone surrogate, but was accepted: its text is not stored as sent", body)
		}
		got, err := svc.Get(context.Background(), p.ID)
		if err != nil {
			t.Fatalf("%q: created %s but cannot read it: %v", body, p.ID, err)
		}
		var sent apiwire.CreatePaymentRequest
		_ = json.Unmarshal(body, &sent)
		amount, _ := payments.ParseAmountJSON(sent.Amount)
		if got.Amount != amount || got.OrderID != sent.OrderID || got.Label != sent.Account {
			t.Fatalf("%q stored as amount %d, order_id %q, account %q", body, got.Amount, got.OrderID, got.Label)
		}
		if at, err := time.Parse(time.RFC3339Nano, sent.ExpiresAt); err == nil && (!at.Equal(got.ExpiresAt) || !at.After(got.CreatedAt)) {
			t.Fatalf("%q: expires_at stored as %s", body, got.ExpiresAt)
		}
		if !sameJSON(sent.Metadata, got.Metadata) {
			t.Fatalf("%q: metadata stored as %s", body, got.Metadata)
		}
	})
}

// create is what POST /payments does with a body.
func create(svc *payments.Service, body []byte) (*payments.Payment, error) {
	var req apiwire.CreatePaymentRequest
	if err := apiwire.DecodeBytes(body, &req); err != nil {
		return nil, err
	}
	creq, err := req.CreateRequest()
	if err != nil {
		return nil, err
	}
	return svc.Create(context.Background(), creq)
}

// sameJSON compares two JSON values as values (jsonb reorders keys and
// drops duplicates); absent, null and {} are the same (no metadata).
func sameJSON(a, b json.RawMessage) bool {
	va, vb := any(map[string]any{}), any(map[string]any{})
	if len(a) > 0 && string(a) != "null" {
		if err := json.Unmarshal(a, &va); err != nil {
			return false
		}
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &vb); err != nil {
			return false
		}
	}
	return reflect.DeepEqual(va, vb)
}

// FuzzDecode: Decode refuses with a 4xx *Error naming the problem, and
// what it accepts into a struct is exactly one JSON object.
func FuzzDecode(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req apiwire.CreatePaymentRequest
		err := apiwire.DecodeBytes(body, &req)
		if err != nil {
			var e *apiwire.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Code == "" || e.Message == "" {
				t.Fatalf("%q: %#v, want a 4xx *apiwire.Error", body, err)
			}
			if len(body) <= apiwire.MaxBodyBytes && e.Status == http.StatusRequestEntityTooLarge {
				t.Fatalf("%q: refused as too large", body)
			}
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil || obj == nil {
			t.Fatalf("Decode accepted %q, which is not one JSON object", body)
		}
	})
}
