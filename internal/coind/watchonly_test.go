package coind_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Values from the watch-only recording: a regtest payment of 5 DOGE to
// /0/0 of a key the merchant node holds no private key of.
const (
	watchAddr  = "n2HAowvGMjQpNQKJUmstZ5CyCWREbfdw7L"
	watchTxID  = "f0eda24abf1bcfdfd5f28d20f1444a948af0a7e6b67afb0028b03f7ab116d698"
	watchSince = "0431169dcad3b414985e6e5c2070f6858c6ab2865d993687ba9d4f8fa726e965"
)

// walletReads are the RPCs that read the wallet's transactions or
// balances: each must pass include_watchonly, or a payment to an address
// the wallet only watches reads as nothing.
var walletReads = map[string]bool{
	"gettransaction": true, "listsinceblock": true, "listtransactions": true, "getreceivedbyaddress": true,
	"listreceivedbyaddress": true, "getbalance": true, "listunspent": true, "getbalances": true,
}

// watchOnlyNode answers as the recorded Dogecoin Core did: with the
// watch-only payment when the read asked for include_watchonly, and with
// the recorded empty answers (amount 0, no details; no transactions) when it
// did not.
func watchOnlyNode(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request %q: %v", body, err)
		}
		flag := func(i int) bool { return len(req.Params) > i && string(req.Params[i]) == "true" }
		file := ""
		switch req.Method {
		case "getnetworkinfo":
			file = "getnetworkinfo"
		case "gettransaction":
			file = "gettransaction-watchonly-0conf-default"
			if flag(1) {
				file = "gettransaction-watchonly-0conf"
			}
		case "listsinceblock":
			file = "listsinceblock-watchonly-0conf-default"
			if flag(2) {
				file = "listsinceblock-watchonly-0conf"
			}
		default:
			t.Errorf("watch-only node: unexpected %s", req.Method)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(readFixture(t, file))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWalletReadsSeeWatchOnly runs every wallet read of the client against
// the recorded watch-only payment. A read that leaves include_watchonly off
// gets the node's answer for that case, which holds no payment, and fails.
func TestWalletReadsSeeWatchOnly(t *testing.T) {
	c := newClient(t, watchOnlyNode(t), "")
	reads := map[string]func(t *testing.T){
		"gettransaction": func(t *testing.T) {
			tx, err := c.GetTransaction(t.Context(), watchTxID)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Amount != 500_000_000 || len(tx.Details) != 1 || tx.Details[0].Address != watchAddr || tx.Details[0].Amount != 500_000_000 {
				t.Fatalf("got %+v, want the 5 DOGE receive to %s", tx, watchAddr)
			}
		},
		"listsinceblock": func(t *testing.T) {
			sb, err := c.ListSinceBlock(t.Context(), watchSince, 1)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range sb.Transactions {
				found = found || (e.TxID == watchTxID && e.Address == watchAddr && e.Amount == 500_000_000)
			}
			if !found {
				t.Fatalf("got %+v, want the 5 DOGE receive to %s", sb.Transactions, watchAddr)
			}
		},
	}
	for name, read := range reads {
		t.Run(name, read)
	}
	// Every wallet read the client sends must be in reads.
	for _, m := range clientMethods(t) {
		if walletReads[m] && reads[m] == nil {
			t.Errorf("the client sends %s, a wallet read, but this test does not check that it passes include_watchonly", m)
		}
	}
}

// TestWalletReadsOnlyInCoind fails when code outside internal/coind names
// a wallet-read RPC (through Call): that read would bypass the client's
// include_watchonly.
func TestWalletReadsOnlyInCoind(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, filepath.Join("internal", "coind")) || strings.Contains(path, filepath.Join("internal", "regtest")) ||
				strings.Contains(path, filepath.Join("cmd", "transient-dev")) {
				// The regtest harness and the dev tool read the wallets
				// that pay (they hold keys), never the gateway's.
				return nil
			}
			for _, m := range rpcLiterals(t, path) {
				if walletReads[m] {
					t.Errorf("%s names the wallet read %q: read the wallet through the coind client's methods, which pass include_watchonly", path, m)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// clientMethods returns the RPC method names the coind package's own code
// sends (every string literal that is an RPC name).
func clientMethods(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			out = append(out, rpcLiterals(t, f)...)
		}
	}
	return out
}

// rpcLiterals returns the string literals of a Go file that look like RPC
// method names (all lower-case letters).
func rpcLiterals(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") == "" {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

// TestImportWatchOnlyDogecoin sends importmulti as the recording did and
// reads its answer; a refused address is an error naming it.
func TestImportWatchOnlyDogecoin(t *testing.T) {
	node, srv := newFakeNode(t, map[string]reply{"importmulti": {"importmulti-watchonly", http.StatusOK}})
	c := newClient(t, srv, "")
	if err := c.ImportWatchOnly(t.Context(), []string{"mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := `[[{"scriptPubKey":{"address":"mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"},"timestamp":"now","watchonly":true}],{"rescan":false}]`
	if got := paramsJSON(node.last("importmulti")); got != want {
		t.Fatalf("params: got %s, want %s", got, want)
	}
	// Two addresses, one answer: the node answered for another request.
	if err := c.ImportWatchOnly(t.Context(), []string{"a", "b"}, time.Time{}); err == nil || !strings.Contains(err.Error(), "1 results for 2 addresses") {
		t.Fatalf("got %v, want a count mismatch", err)
	}
	// A rescan from a time sends that time and rescan true.
	since := time.Unix(1795896000, 0)
	_ = c.ImportWatchOnly(t.Context(), []string{"mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"}, since)
	want = `[[{"scriptPubKey":{"address":"mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"},"timestamp":1795896000,"watchonly":true}],{"rescan":true}]`
	if got := paramsJSON(node.last("importmulti")); got != want {
		t.Fatalf("params: got %s, want %s", got, want)
	}
}

// TestWatchesAllDogecoin asks Dogecoin Core through validateaddress, in
// one batch, and reads its recorded answer.
func TestWatchesAllDogecoin(t *testing.T) {
	var batch []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if body[0] != '[' {
			_, _ = w.Write(readFixture(t, "getnetworkinfo"))
			return
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Errorf("batch %q: %v", body, err)
		}
		// The recorded single answer, with the batch entry's id.
		var one map[string]any
		_ = json.Unmarshal(readFixture(t, "validateaddress-watchonly"), &one)
		one["id"] = batch[0].ID
		_ = json.NewEncoder(w).Encode([]any{one})
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv, "")
	got, err := c.WatchesAll(t.Context(), []string{watchAddr})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0] {
		t.Fatalf("got %v, want [true]", got)
	}
	if len(batch) != 1 || batch[0].Method != "validateaddress" || paramsJSON(batch[0]) != `["`+watchAddr+`"]` {
		t.Fatalf("sent %+v, want validateaddress of %s", batch, watchAddr)
	}
}

// TestImportWatchOnlyDescriptorWallet falls back to importdescriptors with
// addr() descriptors, checksummed by the node, when the wallet refuses
// importmulti as a descriptor wallet does (-4 on Bitcoin Core 0.21 and
// later) or the node has no importmulti. The answers are written from
// Bitcoin Core's documented shapes: litecoind here cannot make descriptor
// wallets (built without sqlite).
func TestImportWatchOnlyDescriptorWallet(t *testing.T) {
	for _, refusal := range []string{
		`{"result":null,"error":{"code":-4,"message":"This type of wallet does not support this command"},"id":1}`,
		`{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`,
	} {
		var sent []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if body[0] == '[' {
				var batch []request
				_ = json.Unmarshal(body, &batch)
				var out []map[string]any
				for _, b := range batch {
					sent = append(sent, b.Method+" "+paramsJSON(b))
					var desc string
					_ = json.Unmarshal(b.Params[0], &desc)
					out = append(out, map[string]any{"id": b.ID, "error": nil, "result": map[string]any{"descriptor": desc + "#abcdefgh"}})
				}
				_ = json.NewEncoder(w).Encode(out)
				return
			}
			var req request
			_ = json.Unmarshal(body, &req)
			sent = append(sent, req.Method+" "+paramsJSON(req))
			if req.Method == "importmulti" {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, refusal)
				return
			}
			_, _ = io.WriteString(w, `{"result":[{"success":true},{"success":true}],"error":null,"id":1}`)
		}))
		c := newClient(t, srv, "")
		err := c.ImportWatchOnly(t.Context(), []string{"bcrt1qa", "bcrt1qb"}, time.Time{})
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v", refusal, err)
		}
		want := []string{
			`importmulti [[{"scriptPubKey":{"address":"bcrt1qa"},"timestamp":"now","watchonly":true},{"scriptPubKey":{"address":"bcrt1qb"},"timestamp":"now","watchonly":true}],{"rescan":false}]`,
			`getdescriptorinfo ["addr(bcrt1qa)"]`,
			`getdescriptorinfo ["addr(bcrt1qb)"]`,
			`importdescriptors [[{"desc":"addr(bcrt1qa)#abcdefgh","timestamp":"now"},{"desc":"addr(bcrt1qb)#abcdefgh","timestamp":"now"}]]`,
		}
		if strings.Join(sent, "\n") != strings.Join(want, "\n") {
			t.Fatalf("sent:\n%s\nwant:\n%s", strings.Join(sent, "\n"), strings.Join(want, "\n"))
		}
	}
}
