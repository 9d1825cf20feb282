package main

import (
	"os"
	"strings"
	"testing"
)

// TestBitPayKeysInEnvExample keeps .env.example complete for the keys the
// BitPay part reads, as internal/config's test does for the daemon's own.
func TestBitPayKeysInEnvExample(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	if _, err := loadBitPayConfig(func(k string) string { read[k] = true; return "" }, []string{"DOGE"}); err != nil {
		t.Fatal(err)
	}
	if len(read) < 10 {
		t.Fatalf("only %d keys read: %v", len(read), read)
	}
	for key := range read {
		if !strings.Contains(string(example), "\n"+key+"=") {
			t.Errorf(".env.example does not document %s", key)
		}
	}
}
