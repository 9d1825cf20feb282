package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/transient-gateway/transient/internal/amqpapi"
	"github.com/transient-gateway/transient/internal/regtest"
)

// TestAMQPKeysInEnvExample keeps .env.example complete for the keys the
// AMQP part reads.
func TestAMQPKeysInEnvExample(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	if _, err := loadAMQPConfig(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	if len(read) < 5 {
		t.Fatalf("only %d keys read: %v", len(read), read)
	}
	for key := range read {
		if !strings.Contains(string(example), "\n"+key+"=") {
			t.Errorf(".env.example does not document %s", key)
		}
	}
}

func TestAMQPConfigNeverEchoesTheURL(t *testing.T) {
	env := map[string]string{"AMQP_URL": "http://user:hunter2@host/", "AMQP_COMMANDS": "maybe", "AMQP_PREFETCH": "0"}
	_, err := loadAMQPConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"AMQP_URL", "AMQP_COMMANDS", "AMQP_PREFETCH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	env = map[string]string{"AMQP_URL": "amqp://user:hunter2@host:5672/vh"}
	c, err := loadAMQPConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "hunter2") || strings.Contains(s, "user") || !strings.Contains(s, "host:5672") ||
		!strings.Contains(s, "exchange=transient.events") || !strings.Contains(s, "command_queue=transient.commands") {
		t.Errorf("String() = %q", s)
	}
}

// TestEventsListShowsAMQP checks that `transientd events list` shows an
// event's AMQP publication beside its webhook.
func TestEventsListShowsAMQP(t *testing.T) {
	node := sharedNode(t)
	env := nodeEnv(t)
	svc, _ := testService(t, env, "https://shop.example/hook")
	client, err := amqpapi.New(amqpapi.Config{URL: "amqp://guest:hunter2@127.0.0.1:5672/", Payments: svc})
	if err != nil {
		t.Fatal(err)
	}
	svc.AddEventHook(client)
	var p testPayment
	if err := json.Unmarshal([]byte(cli(t, env, "payments", "create", "--currency", "LTC", "--amount", "0.2", "--json").must(t, "create")), &p); err != nil {
		t.Fatal(err)
	}
	txid := must(node.Send(context.Background(), regtest.MinerWallet, p.PaymentAddress, 20_000_000, false))
	if err := svc.ProcessTx(context.Background(), "LTC", txid); err != nil {
		t.Fatal(err)
	}
	txt := cli(t, env, "events", "list", p.ID).must(t, "events text")
	if !strings.Contains(txt, "pending webhook https://shop.example/hook") ||
		!strings.Contains(txt, "pending amqp amqp://127.0.0.1:5672/?exchange=transient.events") || strings.Contains(txt, "hunter2") {
		t.Errorf("events text:\n%s", txt)
	}
}
