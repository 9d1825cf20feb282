package amqpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/transient-gateway/transient/internal/payments"
	"github.com/transient-gateway/transient/internal/pgtest"
	"github.com/transient-gateway/transient/internal/regtest"
)

// commandTypes are the type properties the fuzz target picks from.
var commandTypes = []string{CommandCreate, CommandGet, "", "payments.delete"}

// FuzzCommand answers any command (type, content type, message_id and
// body) as the consumer does, without a broker. The reply is 201 with a
// stored payment for a create, 200 for a get, or a 4xx with the API's
// error shape and a code; a refused command stores nothing.
func FuzzCommand(f *testing.F) {
	for _, tc := range []struct {
		typ             uint8
		contentType, id string
		body            string
	}{
		{0, "application/json", "m-1", `{"currency":"LTC","amount":"0.01"}`},
		{0, "", "m-2", `{"currency":"LTC","amount":1e308}`},
		{0, "application/json", "", `{"currency":"LTC","amount":"0.01"}`},
		{0, "text/plain", "m-3", `{"currency":"LTC","amount":"0.01"}`},
		{0, "application/json", "m\x00", `{"currency":"LTC","amount":"0.01"}`},
		{0, "application/json", "m-4", "{\"currency\":\"LTC\",\"amount\":\"0.01\",\"account\":\"\xff\"}"},
		{0, "application/json;;", "m-5", `{}`},
		{1, "application/json", "", `{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}`},
		{1, "application/problem+json", "", `{"id":"not-a-uuid"}`},
		{1, "", "", `{"id":1}`}, {1, "", "", `null`}, {2, "", "", `{}`}, {3, "", "", ``},
	} {
		f.Add(tc.typ, tc.contentType, tc.id, []byte(tc.body))
	}
	pool := pgtest.NewPool(f)
	svc := payments.NewService(pool, payments.Config{Coins: []payments.Coin{
		{Code: "LTC", Node: &regtest.AddressOnly{}, Confirmations: 2, URIScheme: "litecoin"}}})
	c, err := New(Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Commands: true, Payments: svc})
	if err != nil {
		f.Fatal(err)
	}
	count := func() (n int) {
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM payments`).Scan(&n); err != nil {
			f.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, typ uint8, contentType, messageID string, body []byte) {
		d := amqp.Delivery{Type: commandTypes[int(typ)%len(commandTypes)], ContentType: contentType, MessageId: messageID, Body: body}
		before := count()
		status, reply, replayed := c.answer(context.Background(), d)
		var out struct {
			Success bool `json:"success"`
			Payment struct {
				ID string `json:"id"`
			} `json:"payment"`
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(reply, &out); err != nil {
			t.Fatalf("%+v: the reply is not JSON: %s", d, reply)
		}
		switch {
		case status == http.StatusCreated && d.Type == CommandCreate, status == http.StatusOK && d.Type == CommandGet:
			if !out.Success || out.Payment.ID == "" {
				t.Fatalf("%+v: %d without a payment: %s", d, status, reply)
			}
			if replayed && count() != before {
				t.Fatalf("%+v: a replayed create stored a payment", d)
			}
		case status >= 400 && status < 500:
			if out.Success || out.Error.Code == "" || out.Error.Message == "" {
				t.Fatalf("%+v: %d without an error code: %s", d, status, reply)
			}
			if after := count(); after != before {
				t.Fatalf("%+v: refused (%d) but stored %d payments", d, status, after-before)
			}
		default:
			t.Fatalf("%+v: %d %s", d, status, reply)
		}
	})
}
