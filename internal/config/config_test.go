package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env builds a getenv over a map.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func minimal() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://transient:dbsecret@127.0.0.1:5432/transient",
		"COINS":        "DOGE,ltc",
		"DOGE_RPC_URL": "http://user:rpcsecret@127.0.0.1:22555",
		"LTC_RPC_URL":  "http://user:rpcsecret2@127.0.0.1:19332/wallet/merchant",
		"API_KEYS":     "key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(minimal()), "")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", c.ListenAddr, "127.0.0.1:8080"},
		{"MigrateOnStart", c.MigrateOnStart, true},
		{"PaymentExpiry", c.PaymentExpiry, time.Duration(0)},
		{"MonitoringWindow", c.MonitoringWindow, 24 * time.Hour},
		{"CatchUpInterval", c.CatchUpInterval, 30 * time.Second},
		{"ToleranceBP", c.ToleranceBP, int64(0)},
		{"APIKeys", strings.Join(c.APIKeys, "|"), "key-aaaaaaaaaaaaaaaa|key-bbbbbbbbbbbbbbbb"},
		{"WebhookMaxAge", c.WebhookMaxAge, 72 * time.Hour},
		{"WebhookRetention", c.WebhookRetention, 60 * 24 * time.Hour},
		{"coins", len(c.Coins), 2},
		{"DOGE confirmations", c.Coins[0].Confirmations, int64(6)},
		{"DOGE scheme", c.Coins[0].URIScheme, "dogecoin"},
		{"LTC code upper-cased", c.Coins[1].Code, "LTC"},
		{"LTC confirmations", c.Coins[1].Confirmations, int64(6)},
		{"LTC scheme", c.Coins[1].URIScheme, "litecoin"},
		{"DOGE zero-conf", c.Coins[0].ZeroConf, true},
		{"LTC zero-conf", c.Coins[1].ZeroConf, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadOverrides(t *testing.T) {
	kv := minimal()
	kv["COINS"] = "BTC,XYZ"
	kv["BTC_RPC_URL"] = "http://127.0.0.1:8332"
	kv["BTC_RPC_COOKIE_FILE"] = "/var/lib/bitcoind/.cookie"
	kv["XYZ_RPC_URL"] = "http://u:p@127.0.0.1:1"
	kv["XYZ_URI_SCHEME"] = "xyzcoin"
	kv["XYZ_CONFIRMATIONS"] = "0"
	kv["XYZ_ZERO_CONF"] = "true"
	kv["PAYMENT_TOLERANCE_PERCENT"] = "0.5"
	kv["PAYMENT_EXPIRY"] = "15m"
	kv["MONITORING_WINDOW"] = "0"
	kv["MIGRATE_ON_START"] = "false"
	c, err := Load(env(kv), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Coins[0].Confirmations != 3 || c.Coins[0].URIScheme != "bitcoin" || c.Coins[0].RPCCookieFile == "" || c.Coins[0].ZeroConf {
		t.Errorf("BTC = %+v", c.Coins[0])
	}
	if c.Coins[1].Confirmations != 0 || c.Coins[1].URIScheme != "xyzcoin" || !c.Coins[1].ZeroConf {
		t.Errorf("XYZ = %+v", c.Coins[1])
	}
	if c.ToleranceBP != 50 || c.PaymentExpiry != 15*time.Minute || c.MonitoringWindow != 0 || c.MigrateOnStart {
		t.Errorf("got tolerance %d expiry %s window %s migrate %t", c.ToleranceBP, c.PaymentExpiry, c.MonitoringWindow, c.MigrateOnStart)
	}
}

// TestWebhookRetentionNames: WEBHOOK_RETENTION sets the delivery log's
// retention; its former name WEBHOOK_LOG_RETENTION still works, and the
// current name wins when both are set.
func TestWebhookRetentionNames(t *testing.T) {
	tests := []struct {
		name     string
		set      map[string]string
		want     time.Duration
		errorKey string
	}{
		{"default", nil, 60 * 24 * time.Hour, ""},
		{"current name", map[string]string{"WEBHOOK_RETENTION": "240h"}, 240 * time.Hour, ""},
		{"former name", map[string]string{"WEBHOOK_LOG_RETENTION": "720h"}, 720 * time.Hour, ""},
		{"both", map[string]string{"WEBHOOK_RETENTION": "48h", "WEBHOOK_LOG_RETENTION": "720h"}, 48 * time.Hour, ""},
		{"bad former name", map[string]string{"WEBHOOK_LOG_RETENTION": "1m"}, 0, "WEBHOOK_LOG_RETENTION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := minimal()
			for k, v := range tc.set {
				kv[k] = v
			}
			c, err := Load(env(kv), "")
			if tc.errorKey != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorKey) {
					t.Fatalf("got %v, want an error naming %s", err, tc.errorKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.WebhookRetention != tc.want {
				t.Errorf("WebhookRetention = %s, want %s", c.WebhookRetention, tc.want)
			}
		})
	}
}

// TestWebhookCreatedEvents: created events are not POSTed to the webhook
// URLs unless WEBHOOK_CREATED_EVENTS says so.
func TestWebhookCreatedEvents(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"true", true}, {"false", false}} {
		kv := minimal()
		if tc.value != "" {
			kv["WEBHOOK_CREATED_EVENTS"] = tc.value
		}
		c, err := Load(env(kv), "")
		if err != nil || c.WebhookCreatedEvents != tc.want {
			t.Errorf("WEBHOOK_CREATED_EVENTS=%q: got %t (%v), want %t", tc.value, c != nil && c.WebhookCreatedEvents, err, tc.want)
		}
	}
	kv := minimal()
	kv["WEBHOOK_CREATED_EVENTS"] = "maybe"
	if _, err := Load(env(kv), ""); err == nil || !strings.Contains(err.Error(), "WEBHOOK_CREATED_EVENTS") {
		t.Errorf("WEBHOOK_CREATED_EVENTS=maybe: got %v, want an error naming it", err)
	}
}

func TestWebhookRetrySchedule(t *testing.T) {
	kv := minimal()
	if c, err := Load(env(kv), ""); err != nil || c.WebhookRetrySchedule != nil {
		t.Fatalf("default: got %v, %v; want nil (the built-in schedule)", c.WebhookRetrySchedule, err)
	}
	kv["WEBHOOK_RETRY_SCHEDULE"] = "50ms, 300ms,1.5s"
	c, err := Load(env(kv), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.WebhookRetrySchedule); got != "[50ms 300ms 1.5s]" {
		t.Errorf("schedule = %s, want [50ms 300ms 1.5s]", got)
	}
	for _, bad := range []string{"10s,soon", "1ms", "48h"} {
		kv["WEBHOOK_RETRY_SCHEDULE"] = bad
		if _, err := Load(env(kv), ""); err == nil || !strings.Contains(err.Error(), "WEBHOOK_RETRY_SCHEDULE") {
			t.Errorf("%q: got %v, want an error naming WEBHOOK_RETRY_SCHEDULE", bad, err)
		}
	}
}

func TestLoadRefusals(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string // the message must name the key and the expected form
	}{
		{"no database", map[string]string{"DATABASE_URL": ""}, "DATABASE_URL: want a PostgreSQL URL"},
		{"mysql database", map[string]string{"DATABASE_URL": "mysql://root:dbsecret@x/y"}, "DATABASE_URL: want a PostgreSQL URL starting with postgres://"},
		{"no coins", map[string]string{"COINS": ""}, "COINS: want a comma-separated list"},
		{"bad coin code", map[string]string{"COINS": "DOGE,d-o-g"}, `COINS="D-O-G": want coin codes`},
		{"duplicate coin", map[string]string{"COINS": "DOGE,doge", "LTC_RPC_URL": ""}, `COINS="DOGE": want each coin once`},
		{"missing rpc url", map[string]string{"LTC_RPC_URL": ""}, "LTC_RPC_URL: want the node's JSON-RPC URL"},
		{"rpc url without credentials", map[string]string{"LTC_RPC_URL": "http://127.0.0.1:1"}, "LTC_RPC_URL: want credentials"},
		{"rpc url not http", map[string]string{"LTC_RPC_URL": "tcp://user:rpcsecret@x:1"}, "LTC_RPC_URL: want http://user:pass@host:port"},
		{"unknown coin needs scheme", map[string]string{"COINS": "XYZ", "XYZ_RPC_URL": "http://u:p@h:1"}, "XYZ_URI_SCHEME: want the BIP21 URI scheme"},
		{"bad confirmations", map[string]string{"DOGE_CONFIRMATIONS": "many"}, `DOGE_CONFIRMATIONS="many": want a whole number from 0 to 1000`},
		{"zero confirmations without zero-conf", map[string]string{"LTC_CONFIRMATIONS": "0", "LTC_ZERO_CONF": "false"}, "LTC_CONFIRMATIONS: want at least 1 while LTC_ZERO_CONF is false"},
		{"bad zero-conf", map[string]string{"DOGE_ZERO_CONF": "maybe"}, `DOGE_ZERO_CONF="maybe": want true or false`},
		{"confirmations past the monitoring window", map[string]string{"DOGE_CONFIRMATIONS": "601", "MONITORING_WINDOW": "10h"},
			"DOGE_CONFIRMATIONS (601) takes about 10h1m0s on DOGE (a block every 1m0s), longer than MONITORING_WINDOW (10h0m0s): lower it to at most 600"},
		{"bad listen", map[string]string{"LISTEN_ADDR": "8080"}, `LISTEN_ADDR="8080": want host:port`},
		{"bad expiry", map[string]string{"PAYMENT_EXPIRY": "soon"}, `PAYMENT_EXPIRY="soon": want a duration such as 15m or 24h`},
		{"bad tolerance", map[string]string{"PAYMENT_TOLERANCE_PERCENT": "0.125"}, `PAYMENT_TOLERANCE_PERCENT="0.125": want a percentage`},
		{"tolerance over 100", map[string]string{"PAYMENT_TOLERANCE_PERCENT": "101"}, `PAYMENT_TOLERANCE_PERCENT="101": want a percentage from 0 to 100`},
		{"bad bool", map[string]string{"MIGRATE_ON_START": "yes please"}, `MIGRATE_ON_START="yes please": want true or false`},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT="xml": want one of text, json`},
		{"bad drain timeout", map[string]string{"HTTP_DRAIN_TIMEOUT": "forever"}, `HTTP_DRAIN_TIMEOUT="forever": want a duration`},
		{"drain timeout too short", map[string]string{"JOB_DRAIN_TIMEOUT": "10ms"}, `JOB_DRAIN_TIMEOUT="10ms": want a duration such as 90s, 15m or 24h, from 1s to 10m0s`},
		{"metrics on the api address", map[string]string{"LISTEN_ADDR": "127.0.0.1:8080", "METRICS_ADDR": "127.0.0.1:8080"}, "METRICS_ADDR must differ from LISTEN_ADDR"},
		{"bad metrics address", map[string]string{"METRICS_ADDR": "9090"}, `METRICS_ADDR="9090": want host:port`},
		{"short api key", map[string]string{"API_KEYS": "short"}, "API_KEYS: every key must be at least 16 characters"},
		{"short notify token", map[string]string{"NOTIFY_TOKEN": "abc"}, "NOTIFY_TOKEN must be at least 16 characters"},
		{"bad public url", map[string]string{"PUBLIC_URL": "pay.example.com"}, `PUBLIC_URL="pay.example.com": want the absolute http(s) URL`},
		{"bad webhook url", map[string]string{"PAYMENT_WEBHOOK_URL": "ftp://x"}, "PAYMENT_WEBHOOK_URL: want an absolute http(s) URL"},
		{"short webhook secret", map[string]string{"PAYMENT_WEBHOOK_SECRET": "x"}, "PAYMENT_WEBHOOK_SECRET must be at least 16 bytes"},
		{"webhook secret of 15 bytes", map[string]string{"PAYMENT_WEBHOOK_SECRET": "0123456789abcde"}, "PAYMENT_WEBHOOK_SECRET must be at least 16 bytes"},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, `TRUSTED_PROXIES="10.0.0.0/8,proxy": want comma-separated addresses or CIDR networks`},
		{"bad auth failure limit", map[string]string{"AUTH_FAILURES_PER_MINUTE": "-1"}, `AUTH_FAILURES_PER_MINUTE="-1": want a whole number from 0`},
		{"no streams per payment", map[string]string{"STREAM_MAX_PER_PAYMENT": "0"}, `STREAM_MAX_PER_PAYMENT="0": want a whole number from 1`},
		{"bad frame ancestor", map[string]string{"CHECKOUT_FRAME_ANCESTORS": "https://shop.example/path"}, `CHECKOUT_FRAME_ANCESTORS="https://shop.example/path": want comma-separated origins`},
		{"frame ancestor keyword", map[string]string{"CHECKOUT_FRAME_ANCESTORS": "*"}, `CHECKOUT_FRAME_ANCESTORS="*": want comma-separated origins`},
		{"bad max amount", map[string]string{"LTC_MAX_AMOUNT": "lots"}, `LTC_MAX_AMOUNT="lots": want an amount in coins greater than 0`},
		{"zero max amount", map[string]string{"DOGE_MAX_AMOUNT": "0"}, `DOGE_MAX_AMOUNT="0": want an amount in coins greater than 0`},
		{"xprv", map[string]string{"DOGE_XPUB": testXPrv}, "DOGE_XPUB: an extended private key"},
		{"xpub for another coin", map[string]string{"DOGE_XPUB": testLtub}, "DOGE_XPUB: a key for another coin: a Ltub key is for LTC, not DOGE"},
		{"malformed xpub", map[string]string{"LTC_XPUB": "xpub-of-my-shop"}, "LTC_XPUB: not a valid extended public key"},
		{"segwit on dogecoin", map[string]string{"DOGE_XPUB": testTpub, "DOGE_ADDRESS_TYPE": "p2wpkh"}, "DOGE_ADDRESS_TYPE: an address type the coin does not have: Dogecoin has no SegWit"},
		{"unknown address type", map[string]string{"LTC_XPUB": testTpub, "LTC_ADDRESS_TYPE": "taproot"}, `LTC_ADDRESS_TYPE: an address type the coin does not have: "taproot"`},
		{"address type without key", map[string]string{"LTC_ADDRESS_TYPE": "p2wpkh"}, "LTC_ADDRESS_TYPE: want no value without LTC_XPUB"},
		{"xpub without pool", map[string]string{"LTC_XPUB": testTpub, "ADDRESS_POOL_SIZE": "0"}, "LTC_XPUB needs the address pool"},
		{"bad gap warn", map[string]string{"LTC_GAP_WARN": "0"}, `LTC_GAP_WARN="0": want a whole number from 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := minimal()
			for k, v := range tt.set {
				kv[k] = v
			}
			_, err := Load(env(kv), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			for _, secret := range []string{"dbsecret", "rpcsecret", "key-aaaa", testXPrv[:20], testLtub[:20], testTpub[:20]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
}

func TestSecurityKeys(t *testing.T) {
	c, err := Load(env(minimal()), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthFailuresPerMinute != 10 || c.StreamMaxOpen != 0 || c.StreamMaxPerPayment != 20 || c.TrustedProxies != nil ||
		c.FrameAncestors != nil || c.Coins[0].MaxAmount != 0 {
		t.Errorf("defaults: %+v", c)
	}
	kv := minimal()
	kv["TRUSTED_PROXIES"] = "127.0.0.1, 10.0.0.0/8, ::1"
	kv["AUTH_FAILURES_PER_MINUTE"] = "0"
	kv["STREAM_MAX_OPEN"] = "500"
	kv["STREAM_MAX_PER_PAYMENT"] = "5"
	kv["CHECKOUT_FRAME_ANCESTORS"] = "https://shop.example, https://*.shop.example:8443"
	kv["LTC_MAX_AMOUNT"] = "1000.5"
	kv["PAYMENT_WEBHOOK_SECRET"] = "0123456789abcdef"
	if c, err = Load(env(kv), ""); err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 || c.TrustedProxies[1].String() != "10.0.0.0/8" || c.AuthFailuresPerMinute != 0 ||
		c.StreamMaxOpen != 500 || c.StreamMaxPerPayment != 5 || len(c.FrameAncestors) != 2 || c.Coins[1].MaxAmount != 100_050_000_000 {
		t.Errorf("overrides: %+v", c)
	}
}

func TestUnauthenticatedNeedsOptIn(t *testing.T) {
	kv := minimal()
	kv["API_KEYS"] = ""
	kv["ALLOW_UNAUTHENTICATED"] = "true"
	c, err := Load(env(kv), "")
	if err != nil || !c.AllowUnauthenticated {
		t.Fatalf("ALLOW_UNAUTHENTICATED=true: %v", err)
	}
	// Without API_KEYS the configuration still loads: keys may be stored in
	// the database, which serve checks (ErrNoAPIKeys, tested in
	// cmd/transientd).
	kv["ALLOW_UNAUTHENTICATED"] = ""
	if c, err = Load(env(kv), ""); err != nil || len(c.APIKeys) != 0 || c.AllowUnauthenticated {
		t.Fatalf("no API_KEYS: %+v, %v", c, err)
	}
}

func TestDrainTimeouts(t *testing.T) {
	c, err := Load(env(minimal()), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPDrainTimeout != 15*time.Second || c.JobDrainTimeout != 10*time.Second {
		t.Errorf("defaults: http %s jobs %s", c.HTTPDrainTimeout, c.JobDrainTimeout)
	}
	kv := minimal()
	kv["HTTP_DRAIN_TIMEOUT"], kv["JOB_DRAIN_TIMEOUT"], kv["METRICS_ADDR"] = "1m", "2s", "127.0.0.1:9090"
	if c, err = Load(env(kv), ""); err != nil {
		t.Fatal(err)
	}
	if c.HTTPDrainTimeout != time.Minute || c.JobDrainTimeout != 2*time.Second || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("got http %s jobs %s metrics %q", c.HTTPDrainTimeout, c.JobDrainTimeout, c.MetricsAddr)
	}
}

func TestStringRedactsSecrets(t *testing.T) {
	kv := minimal()
	kv["NOTIFY_TOKEN"] = "notifysecret-0123456789"
	kv["PAYMENT_WEBHOOK_URL"] = "https://hook:hooksecret@shop.example.com/hook"
	kv["PAYMENT_WEBHOOK_SECRET"] = "whsecret-0123456789"
	c, err := Load(env(kv), "")
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"dbsecret", "rpcsecret", "rpcsecret2", "key-aaaa", "notifysecret", "hooksecret", "whsecret"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() reveals %q: %s", secret, s)
		}
	}
	for _, want := range []string{"127.0.0.1:22555", "DOGE", "LTC", "api_keys=2", "notify_token=set"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q: %s", want, s)
		}
	}
}

func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".env")
	content := "LISTEN_ADDR=127.0.0.1:9999\nPAYMENT_EXPIRY=1h\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	kv := minimal()
	kv["PAYMENT_EXPIRY"] = "2h" // the environment wins over the file
	c, err := Load(env(kv), file)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9999" || c.PaymentExpiry != 2*time.Hour {
		t.Errorf("listen %s expiry %s", c.ListenAddr, c.PaymentExpiry)
	}
	if _, err := Load(env(kv), filepath.Join(dir, "missing.env")); err != nil {
		t.Errorf("a missing .env file must be fine: %v", err)
	}
}

func TestLoadDatabase(t *testing.T) {
	c, err := LoadDatabase(env(map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/y"}), "")
	if err != nil || c.DatabaseURL == "" || len(c.Coins) != 0 {
		t.Fatalf("without COINS: %+v, %v", c, err)
	}
	// With COINS, the coins are read for presenting payments; their node
	// settings are neither needed nor checked.
	c, err = LoadDatabase(env(map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1/y", "COINS": "ltc,DOGE",
		"LTC_URI_SCHEME": "ltc-test", "DOGE_RPC_URL": "not a url"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Coins) != 2 || c.Coins[0].Code != "LTC" || c.Coins[0].URIScheme != "ltc-test" || c.Coins[1].URIScheme != "dogecoin" {
		t.Errorf("coins = %+v", c.Coins)
	}
	if _, err := LoadDatabase(env(map[string]string{"DATABASE_URL": "mysql://root:dbsecret@x/y"}), ""); err == nil ||
		!strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "dbsecret") {
		t.Errorf("bad DATABASE_URL: %v", err)
	}
}

// TestEnvExampleListsEveryKey keeps .env.example complete: every key the
// loader reads must be documented there.
func TestEnvExampleListsEveryKey(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	kv := minimal()
	_, _ = Load(func(k string) string { read[k] = true; return kv[k] }, "")
	for key := range read {
		generic := strings.Replace(key, "LTC_", "DOGE_", 1)
		if !strings.Contains(string(example), "\n"+generic+"=") {
			t.Errorf(".env.example does not document %s", generic)
		}
	}
}

// Keys for the xpub settings: BIP32 test vector 1's master private key, a
// published Litecoin account key and the regtest key of the Dogecoin
// fixtures.
const (
	testXPrv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
	testLtub = "Ltub2ZB5hCtgn7gqVPzt93yqG19A2VGPR8QubaJh1dagpMoJWFBmH2LX4uwRm5ihBQGKHiJLKaKMgfARozBUaBbSeR5A8VxkU5vCZcsFu9G3HHk"
	testTpub = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"
)

func TestXPubSettings(t *testing.T) {
	kv := minimal()
	kv["LTC_XPUB"] = testTpub
	kv["LTC_ADDRESS_TYPE"] = "P2WPKH"
	c, err := Load(env(kv), "")
	if err != nil {
		t.Fatal(err)
	}
	ltc, _ := c.Coin("LTC")
	doge, _ := c.Coin("DOGE")
	if ltc.XPub == nil || ltc.XPub.Type != "p2wpkh" || ltc.GapWarn != 20 || doge.XPub != nil {
		t.Fatalf("LTC key %+v gap %d, DOGE key %+v", ltc.XPub, ltc.GapWarn, doge.XPub)
	}
	if c.AddressPoolSize != 100 {
		t.Fatalf("ADDRESS_POOL_SIZE %d with a key and the setting unset, want 100", c.AddressPoolSize)
	}
	if s := c.String(); strings.Contains(s, testTpub[:20]) || !strings.Contains(s, "xpub=tpub p2wpkh") {
		t.Fatalf("String() = %s: want the key's kind, never the key", s)
	}
	kv["ADDRESS_POOL_SIZE"] = "7"
	if c, err = Load(env(kv), ""); err != nil || c.AddressPoolSize != 7 {
		t.Fatalf("pool size %v %v, want 7", c, err)
	}
}
