// Package hookclient is the body of the hook binaries notify-tx and
// notify-block, which a coin node runs from walletnotify and blocknotify:
//
//	walletnotify=/usr/local/bin/notify-tx DOGE %s
//	blocknotify=/usr/local/bin/notify-block DOGE %s
//
// Each run sends one hint to transientd and exits: 0 when transientd stored
// it, 1 with one line on stderr otherwise. A run never takes longer than its
// timeout, so a node firing thousands of hooks is never held up; a lost hint
// only delays detection until transientd's next catch-up scan.
package hookclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

// Defaults of the hook binaries.
const (
	DefaultURL     = "http://127.0.0.1:8080"
	DefaultTimeout = 5 * time.Second
)

// Kind says which hint a binary sends.
type Kind string

// The two kinds of hint.
const (
	Tx    Kind = "tx"
	Block Kind = "block"
)

// Main runs one hook invocation and returns the exit code. Settings come
// from flags first, then from the file named by -config (KEY=VALUE lines:
// TRANSIENT_URL, NOTIFY_TOKEN), then from the environment: a node's
// environment is usually not ours to set.
func Main(kind Kind, args []string, getenv func(string) string, stderr io.Writer) int {
	name := "notify-" + string(kind)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		urlFlag    = fs.String("url", "", "transientd's base URL (default $TRANSIENT_URL or "+DefaultURL+")")
		tokenFlag  = fs.String("token", "", "the NOTIFY_TOKEN (default $NOTIFY_TOKEN)")
		configFlag = fs.String("config", "", "file with TRANSIENT_URL= and NOTIFY_TOKEN= lines")
		timeout    = fs.Duration("timeout", DefaultTimeout, "give up after this long")
	)
	fs.Usage = func() {
		what := "TXID [WALLET]"
		if kind == Block {
			what = "BLOCKHASH"
		}
		fmt.Fprintf(stderr, "usage: %s [flags] COIN %s\n", name, what)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	maxArgs := 3
	if kind == Block {
		maxArgs = 2
	}
	if len(rest) < 2 || len(rest) > maxArgs {
		fs.Usage()
		return 2
	}
	settings := map[string]string{}
	if *configFlag != "" {
		vals, err := godotenv.Read(*configFlag)
		if err != nil {
			fmt.Fprintf(stderr, "%s: read -config file: %v\n", name, err)
			return 1
		}
		settings = vals
	}
	pick := func(flagValue, key, def string) string {
		switch {
		case flagValue != "":
			return flagValue
		case settings[key] != "":
			return settings[key]
		case getenv(key) != "":
			return getenv(key)
		}
		return def
	}
	base := pick(*urlFlag, "TRANSIENT_URL", DefaultURL)
	token := pick(*tokenFlag, "NOTIFY_TOKEN", "")
	hint := Hint{Coin: rest[0], Hash: rest[1]}
	if len(rest) == 3 && rest[2] != "%w" {
		// Dogecoin Core has no %w and passes it on unexpanded.
		hint.Wallet = rest[2]
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := Send(ctx, http.DefaultClient, base, token, kind, hint); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// Hint is the body of a notification.
type Hint struct {
	Coin   string `json:"coin"`
	Hash   string `json:"hash"`
	Wallet string `json:"wallet,omitempty"`
}

// Send posts one hint to transientd at base and returns nil once transientd
// has stored it (HTTP 202). A plain http:// base with no proxy in the
// environment is posted directly (postPlain); anything else goes through
// client.
func Send(ctx context.Context, client *http.Client, base, token string, kind Kind, h Hint) error {
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	rawURL := strings.TrimRight(base, "/") + "/notify/" + string(kind)
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("bad transientd URL %q: %w", base, err)
	}
	var a answer
	if plainOK(u) {
		a, err = postPlain(ctx, u, token, body)
		if errors.Is(err, errTimeout) {
			err = context.DeadlineExceeded
		}
	} else {
		a, err = postHTTP(ctx, client, rawURL, base, token, body)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("transientd at %s did not answer in time", base)
		}
		return fmt.Errorf("transientd at %s: %w", base, err)
	}
	if a.status == http.StatusAccepted {
		return nil
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &e) == nil && e.Error.Message != "" {
		return fmt.Errorf("transientd refused the hint (HTTP %d): %s", a.status, e.Error.Message)
	}
	return fmt.Errorf("transientd refused the hint (HTTP %d)", a.status)
}

// postHTTP sends the hint through net/http: https:// URLs, proxies.
func postHTTP(ctx context.Context, client *http.Client, rawURL, base, token string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("bad transientd URL %q: %w", base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return answer{}, context.DeadlineExceeded
		}
		return answer{}, errors.Unwrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		_, _ = io.Copy(io.Discard, resp.Body)
		return answer{status: resp.StatusCode}, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return answer{status: resp.StatusCode, body: raw}, nil
}

// Exit runs Main with the process's arguments and environment and exits.
func Exit(kind Kind) {
	os.Exit(Main(kind, os.Args[1:], os.Getenv, os.Stderr))
}
