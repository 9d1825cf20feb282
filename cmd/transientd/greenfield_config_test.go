package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestGreenfieldConfig checks the Greenfield settings: defaults, values,
// refusals naming the key, and that .env.example documents each key read.
func TestGreenfieldConfig(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	c, err := loadGreenfieldConfig(func(k string) string { read[k] = true; return "" })
	if err != nil || !c.Enabled || c.InvoiceExpiry != 15*time.Minute {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	if len(read) != 2 {
		t.Errorf("keys read: %v", read)
	}
	for key := range read {
		if !strings.Contains(string(example), "\n"+key+"=") {
			t.Errorf(".env.example does not document %s", key)
		}
	}
	env := map[string]string{"GREENFIELD_ENABLED": "false", "GREENFIELD_INVOICE_EXPIRY": "1h"}
	if c, err := loadGreenfieldConfig(func(k string) string { return env[k] }); err != nil || c.Enabled || c.InvoiceExpiry != time.Hour {
		t.Errorf("set: %+v, %v", c, err)
	}
	for key, v := range map[string]string{"GREENFIELD_ENABLED": "maybe", "GREENFIELD_INVOICE_EXPIRY": "30s"} {
		if _, err := loadGreenfieldConfig(func(k string) string {
			if k == key {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: %v, want an error naming the key", key, v, err)
		}
	}
}
