package main

import (
	"os"
	"strings"
	"testing"
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
