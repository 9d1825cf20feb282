package coind_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/transient-gateway/transient/internal/coind"
)

// reply is a recorded response: a fixture file and the HTTP status the node
// sent with it.
type reply struct {
	file   string // under testdata/dogecoin-1.14.9 (or testdata/ when it has a directory), without .json
	status int
}

// request is what the fake node received.
type request struct {
	Path        string
	ContentType string
	Auth        string
	Body        string
	JSONRPC     string            `json:"jsonrpc"`
	ID          json.RawMessage   `json:"id"`
	Method      string            `json:"method"`
	Params      []json.RawMessage `json:"params"`
}

// fakeNode replays fixtures by RPC method and records the requests.
type fakeNode struct {
	t      *testing.T
	routes map[string]reply
	mu     sync.Mutex
	reqs   []request
}

// newFakeNode starts an HTTP server answering each method with its
// recorded reply; an unrouted method fails the test.
func newFakeNode(t *testing.T, routes map[string]reply) (*fakeNode, *httptest.Server) {
	t.Helper()
	f := &fakeNode{t: t, routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := request{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Body: string(body)}
	if r.Method != http.MethodPost {
		f.t.Errorf("fake node: got HTTP %s, want POST", r.Method)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake node: request body %q: %v", body, err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	rep, ok := f.routes[req.Method]
	if !ok {
		f.t.Errorf("fake node: no fixture for method %q", req.Method)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	data := readFixture(f.t, rep.file)
	if len(data) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(data)
}

// last returns the last request for method.
func (f *fakeNode) last(method string) request {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reqs) - 1; i >= 0; i-- {
		if f.reqs[i].Method == method {
			return f.reqs[i]
		}
	}
	f.t.Fatalf("fake node: no %s request", method)
	return request{}
}

// readFixture returns a recorded response body.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	dir := "dogecoin-1.14.9"
	if strings.Contains(name, "/") {
		dir = "" // another node's recording, named with its directory
	}
	data, err := os.ReadFile(filepath.Join("testdata", dir, name+".json"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return data
}

// newClient returns a client for srv's URL plus path.
func newClient(t *testing.T, srv *httptest.Server, path string) *coind.Client {
	t.Helper()
	c, err := coind.New(coind.Config{URL: strings.Replace(srv.URL, "http://", "http://user:pass@", 1) + path})
	if err != nil {
		t.Fatalf("coind.New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// paramsJSON returns the raw params of a request as one JSON array text.
func paramsJSON(r request) string {
	parts := make([]string, len(r.Params))
	for i, p := range r.Params {
		parts[i] = string(p)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func ptr[T any](v T) *T { return &v }

// Values from the recording.
const (
	dogeAddr      = "mp3gfwsDoRiMabp95K4SUA6DNoZvG36Xkq"
	payTxID       = "55cb969e7bd5444445342fb133f151e9f939a4d16bae07f7ca08e4eb0b2d97e9"
	manyTxID      = "1166419deddc7ceace2782fb3b5c7457d27d2877110a0ced306eac15c60489f6"
	tip101        = "82e129c7ec17009ffa7d19f79453fda096baaf02ffe961302f68e2b61129c846"
	block102      = "b5b3e086757f77be822ae62f7b3dbb0dbe3e8039f7f2b78b8e6b2ef5a5536c72"
	block103      = "a607dade890e2980825ca70e31adb5eacd4bc8995379c433233d3479d6c85580"
	paidAmount    = 1_234_567_890_000 // 12345.67890000 DOGE
	receivedOrder = "order-42"
)

func TestGetTransactionDogecoinFixtures(t *testing.T) {
	order42 := []coind.Detail{{Address: dogeAddr, Category: "receive", Label: receivedOrder, Account: receivedOrder, Amount: paidAmount, Vout: 1}}
	sendmany := []coind.Detail{
		{Address: "msqWExSgpehKHF8ff6HHp6ZEspcQZ95Gag", Category: "receive", Label: "order-43", Account: "order-43", Amount: 100_000_000, Vout: 1},
		{Address: "mooSFFKf18HmEuXxeuCcz6XzeLZPXZCLMk", Category: "receive", Label: "order-44", Account: "order-44", Amount: 250_000_000, Vout: 2},
	}
	tests := []struct {
		name string
		file string
		txid string
		want coind.Transaction
	}{
		{
			name: "receive at 0 confirmations",
			file: "gettransaction-receive-0conf",
			txid: payTxID,
			want: coind.Transaction{
				TxID: payTxID, Amount: paidAmount, Confirmations: 0, Time: 1795340819, Trusted: ptr(false),
				Replaceable: "no", WalletConflicts: []string{}, Details: order42,
			},
		},
		{
			name: "receive at 1 confirmation has no blockheight",
			file: "gettransaction-receive-1conf",
			txid: payTxID,
			want: coind.Transaction{
				TxID: payTxID, Amount: paidAmount, Confirmations: 1, BlockHash: block102, BlockHeight: 0,
				BlockTime: 1795340833, Time: 1795340819, Replaceable: "no", WalletConflicts: []string{}, Details: order42,
			},
		},
		{
			name: "send at 0 confirmations is negative with a fee",
			file: "gettransaction-send-0conf",
			txid: payTxID,
			want: coind.Transaction{
				TxID: payTxID, Amount: -paidAmount, Fee: -226_000, Time: 1795340815, Trusted: ptr(true),
				Replaceable: "no", WalletConflicts: []string{},
				Details: []coind.Detail{{Address: dogeAddr, Category: "send", Amount: -paidAmount, Vout: 1}},
			},
		},
		{
			name: "sendmany to two wallet addresses",
			file: "gettransaction-sendmany-two-outputs-0conf",
			txid: manyTxID,
			want: coind.Transaction{
				TxID: manyTxID, Amount: 350_000_000, Time: 1795340824, Trusted: ptr(false),
				Replaceable: "no", WalletConflicts: []string{}, Details: sendmany,
			},
		},
		{
			name: "after invalidateblock back to 0 confirmations",
			file: "gettransaction-after-invalidateblock",
			txid: manyTxID,
			want: coind.Transaction{
				TxID: manyTxID, Amount: 350_000_000, Time: 1795340824, Trusted: ptr(false),
				Replaceable: "no", WalletConflicts: []string{}, Details: sendmany,
			},
		},
		{
			name: "after reconsiderblock confirmed again",
			file: "gettransaction-after-reconsiderblock",
			txid: manyTxID,
			want: coind.Transaction{
				TxID: manyTxID, Amount: 350_000_000, Confirmations: 1, BlockHash: block103, BlockTime: 1795340833,
				Time: 1795340824, Replaceable: "no", WalletConflicts: []string{}, Details: sendmany,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, srv := newFakeNode(t, map[string]reply{"gettransaction": {tt.file, http.StatusOK}})
			got, err := newClient(t, srv, "").GetTransaction(t.Context(), tt.txid)
			if err != nil {
				t.Fatalf("GetTransaction: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("GetTransaction\n got %+v\nwant %+v", *got, tt.want)
			}
			if got, want := paramsJSON(node.last("gettransaction")), `["`+tt.txid+`",true]`; got != want {
				t.Errorf("params sent %s, want %s", got, want)
			}
		})
	}
}

func TestGetTransactionUnknownTxID(t *testing.T) {
	_, srv := newFakeNode(t, map[string]reply{"gettransaction": {"gettransaction-unknown-txid-error", http.StatusInternalServerError}})
	_, err := newClient(t, srv, "").GetTransaction(t.Context(), strings.Repeat("ab", 32))
	if !errors.Is(err, coind.ErrTxNotFound) {
		t.Fatalf("got %v, want ErrTxNotFound", err)
	}
	rpcErr, ok := errors.AsType[*coind.Error](err)
	if !ok || rpcErr.Code != coind.CodeInvalidAddressOrKey || rpcErr.Message != "Invalid or non-wallet transaction id" {
		t.Fatalf("errors.As *coind.Error = %+v, %v; want code -5 with the node's message", rpcErr, ok)
	}
	if want := "coind: gettransaction: rpc error -5: Invalid or non-wallet transaction id"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if errors.Is(err, coind.ErrUnavailable) || errors.Is(err, coind.ErrBlockNotFound) {
		t.Errorf("%v matches an unrelated sentinel", err)
	}
}

func TestGetNewAddressDogecoin(t *testing.T) {
	t.Run("one positional argument is the account", func(t *testing.T) {
		node, srv := newFakeNode(t, map[string]reply{"getnewaddress": {"getnewaddress-account", http.StatusOK}})
		got, err := newClient(t, srv, "").GetNewAddress(t.Context(), receivedOrder)
		if err != nil {
			t.Fatalf("GetNewAddress: %v", err)
		}
		if got != dogeAddr {
			t.Errorf("got %q, want %q", got, dogeAddr)
		}
		if got, want := paramsJSON(node.last("getnewaddress")), `["order-42"]`; got != want {
			t.Errorf("params sent %s, want %s", got, want)
		}
	})
	errorCases := []struct {
		name     string
		file     string
		code     int
		inPrefix string
	}{
		{"two arguments fail with the help text", "getnewaddress-two-args-error", coind.CodeMiscError, "getnewaddress ( \"account\" )\n"},
		{"named label fails", "getnewaddress-named-label-error", coind.CodeInvalidParameter, "Unknown named parameter label"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFakeNode(t, map[string]reply{"getnewaddress": {tt.file, http.StatusInternalServerError}})
			var addr string
			err := newClient(t, srv, "").Call(t.Context(), "getnewaddress", []any{"order-42", "bech32"}, &addr)
			rpcErr, ok := errors.AsType[*coind.Error](err)
			if !ok {
				t.Fatalf("got %v, want a *coind.Error", err)
			}
			if rpcErr.Code != tt.code || !strings.HasPrefix(rpcErr.Message, tt.inPrefix) {
				t.Errorf("got code %d message %q, want code %d message starting %q", rpcErr.Code, rpcErr.Message, tt.code, tt.inPrefix)
			}
			if rpcErr.Method != "getnewaddress" {
				t.Errorf("Method = %q, want getnewaddress", rpcErr.Method)
			}
			if errors.Is(err, coind.ErrUnavailable) || errors.Is(err, coind.ErrMethodNotFound) {
				t.Errorf("%v matches an unrelated sentinel", err)
			}
		})
	}
}

func TestNodeInfoAndListSinceBlockDogecoin(t *testing.T) {
	tx := coind.ListEntry{
		TxID: payTxID, Address: dogeAddr, Category: "receive", Label: receivedOrder, Amount: paidAmount, Vout: 1,
		Confirmations: 1, BlockHash: block102, Replaceable: "no", WalletConflicts: []string{}, Time: 1795340819,
	}
	for _, tt := range []struct {
		name string
		file string
		hash string
	}{
		{"from the tip before the payment", "listsinceblock-from-tip-before-payment", tip101},
		// Dogecoin lists from genesis for an unknown hash instead of failing.
		{"unknown hash lists the whole wallet", "listsinceblock-unknown-hash", strings.Repeat("0", 64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node, srv := newFakeNode(t, map[string]reply{
				"getnetworkinfo": {"getnetworkinfo", http.StatusOK},
				"listsinceblock": {tt.file, http.StatusOK},
			})
			c := newClient(t, srv, "")
			got, err := c.ListSinceBlock(t.Context(), tt.hash, 1)
			if err != nil {
				t.Fatalf("ListSinceBlock: %v", err)
			}
			want := coind.SinceBlock{Transactions: []coind.ListEntry{tx}, LastBlock: block102, RemovedSupported: false}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("ListSinceBlock\n got %+v\nwant %+v", *got, want)
			}
			// Dogecoin 1.14 has no include_watchonly/include_removed: exactly 2 params.
			if got, want := paramsJSON(node.last("listsinceblock")), `["`+tt.hash+`",1,true]`; got != want {
				t.Errorf("params sent %s, want %s", got, want)
			}
			info, err := c.NodeInfo(t.Context())
			if err != nil {
				t.Fatalf("NodeInfo: %v", err)
			}
			if want := (coind.NodeInfo{Version: 1140900, Subversion: "/Shibetoshi:1.14.9/", Dogecoin: true}); info != want {
				t.Errorf("NodeInfo = %+v, want %+v", info, want)
			}
			// NodeInfo is cached: one getnetworkinfo for both calls.
			node.mu.Lock()
			calls := 0
			for _, r := range node.reqs {
				if r.Method == "getnetworkinfo" {
					calls++
				}
			}
			node.mu.Unlock()
			if calls != 1 {
				t.Errorf("getnetworkinfo sent %d times, want 1 (cached)", calls)
			}
		})
	}
}

func TestListSinceBlockAsksForRemovedOnNewerNodes(t *testing.T) {
	var (
		mu  sync.Mutex
		got []json.RawMessage
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		_ = json.NewDecoder(r.Body).Decode(&req)
		switch req.Method {
		case "getnetworkinfo":
			_, _ = io.WriteString(w, `{"result":{"version":210201,"subversion":"/LitecoinCore:0.21.2.1/"},"error":null,"id":1}`)
		case "listsinceblock":
			mu.Lock()
			got = req.Params
			mu.Unlock()
			_, _ = io.WriteString(w, `{"result":{"transactions":[],"removed":[{"txid":"aa","category":"receive","amount":0.00000001,"vout":0,"confirmations":-4,"blockheight":0}],"lastblock":"bb"},"error":null,"id":2}`)
		}
	}))
	defer srv.Close()
	c := newClient(t, srv, "")
	res, err := c.ListSinceBlock(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("ListSinceBlock: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := string(mustJSON(t, got)); s != `["",1,true,true]` {
		t.Errorf("params sent %s, want [\"\",1,true,true]", s)
	}
	want := coind.SinceBlock{
		Transactions:     []coind.ListEntry{},
		Removed:          []coind.ListEntry{{TxID: "aa", Category: "receive", Amount: 1, Confirmations: -4}},
		LastBlock:        "bb",
		RemovedSupported: true,
	}
	if !reflect.DeepEqual(*res, want) {
		t.Errorf("got %+v, want %+v", *res, want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnknownMethodDogecoin(t *testing.T) {
	_, srv := newFakeNode(t, map[string]reply{"getbalances": {"unknown-method-getbalances", http.StatusNotFound}})
	err := newClient(t, srv, "").Call(t.Context(), "getbalances", nil, nil)
	if !errors.Is(err, coind.ErrMethodNotFound) {
		t.Fatalf("got %v, want ErrMethodNotFound", err)
	}
	if rpcErr, ok := errors.AsType[*coind.Error](err); !ok || rpcErr.Code != coind.CodeMethodNotFound {
		t.Errorf("errors.As *coind.Error = %+v, %v; want code -32601", rpcErr, ok)
	}
}

func TestWalletPathDogecoin(t *testing.T) {
	node, srv := newFakeNode(t, map[string]reply{"getbalance": {"wallet-path-404", http.StatusNotFound}})
	c := newClient(t, srv, "/wallet/merchant")
	if c.Wallet() != "merchant" {
		t.Errorf("Wallet() = %q, want merchant", c.Wallet())
	}
	err := c.Call(t.Context(), "getbalance", nil, nil)
	if !errors.Is(err, coind.ErrWalletNotFound) {
		t.Fatalf("got %v, want ErrWalletNotFound", err)
	}
	if errors.Is(err, coind.ErrMethodNotFound) || errors.Is(err, coind.ErrUnavailable) {
		t.Errorf("%v matches an unrelated sentinel", err)
	}
	if p := node.last("getbalance").Path; p != "/wallet/merchant" {
		t.Errorf("request path %q, want /wallet/merchant", p)
	}
}

func TestValidateAddressDogecoin(t *testing.T) {
	for _, tt := range []struct {
		name string
		file string
		addr string
		want coind.AddressValidation
	}{
		{"mine", "validateaddress-mine", dogeAddr, coind.AddressValidation{IsValid: true, Address: dogeAddr, IsMine: true}},
		{"mainnet address on regtest", "validateaddress-mainnet-address-on-regtest", "DFq66AjLeoJTtpHo47fg3rYrUydZxcANLN", coind.AddressValidation{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFakeNode(t, map[string]reply{"validateaddress": {tt.file, http.StatusOK}})
			got, err := newClient(t, srv, "").ValidateAddress(t.Context(), tt.addr)
			if err != nil {
				t.Fatalf("ValidateAddress: %v", err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestChainCallsDogecoin(t *testing.T) {
	_, srv := newFakeNode(t, map[string]reply{
		"getblock":          {"getblock-verbose", http.StatusOK},
		"getblockchaininfo": {"getblockchaininfo", http.StatusOK},
		"getblockcount":     {"jsonrpc2-request", http.StatusOK}, // a "2.0" request answered 1.0-style
	})
	c := newClient(t, srv, "")
	block, err := c.GetBlock(t.Context(), block103)
	if err != nil {
		t.Fatalf("GetBlock: %v", err)
	}
	if want := (coind.Block{Hash: block103, Height: 103, Confirmations: 1, PreviousHash: block102, Time: 1795340833}); *block != want {
		t.Errorf("GetBlock = %+v, want %+v", *block, want)
	}
	info, err := c.GetBlockchainInfo(t.Context())
	if err != nil {
		t.Fatalf("GetBlockchainInfo: %v", err)
	}
	if want := (coind.ChainInfo{Chain: "regtest", Blocks: 101, Headers: 101, BestBlockHash: tip101}); *info != want {
		t.Errorf("GetBlockchainInfo = %+v, want %+v", *info, want)
	}
	n, err := c.GetBlockCount(t.Context())
	if err != nil || n != 101 {
		t.Errorf("GetBlockCount = %d, %v; want 101", n, err)
	}
}

func TestSendToAddressDogecoin(t *testing.T) {
	for _, tt := range []struct {
		name   string
		file   string
		amount int64
		param  string
		code   int
	}{
		{"below the 0.01 DOGE soft dust limit", "sendtoaddress-too-small-error", 100_000, `"0.001"`, coind.CodeWalletError},
		{"more than 8 decimals", "sendtoaddress-9-decimals-error", 112_345_678, `"1.12345678"`, coind.CodeTypeError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node, srv := newFakeNode(t, map[string]reply{"sendtoaddress": {tt.file, http.StatusInternalServerError}})
			_, err := newClient(t, srv, "").SendToAddress(t.Context(), dogeAddr, tt.amount)
			if rpcErr, ok := errors.AsType[*coind.Error](err); !ok || rpcErr.Code != tt.code {
				t.Fatalf("got %v, want rpc error %d", err, tt.code)
			}
			// The amount goes out as an exact decimal string.
			if got, want := paramsJSON(node.last("sendtoaddress")), `["`+dogeAddr+`",`+tt.param+`]`; got != want {
				t.Errorf("params sent %s, want %s", got, want)
			}
		})
	}
}

// BenchmarkGetTransactionReplay measures the client's own cost per
// gettransaction (encode, HTTP round trip on loopback, decode) against a
// server replaying the recorded Dogecoin response.
func BenchmarkGetTransactionReplay(b *testing.B) {
	body := readFixture(b, "gettransaction-receive-1conf")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c, err := coind.New(coind.Config{URL: strings.Replace(srv.URL, "http://", "http://user:pass@", 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tx, err := c.GetTransaction(ctx, payTxID)
		if err != nil || tx.Amount != paidAmount {
			b.Fatalf("GetTransaction = %+v, %v", tx, err)
		}
	}
}

// TestBitcoinCoreFullRBFConflicts decodes what Bitcoin Core 28.4 says about a
// receive taken back by a full-RBF replacement: mempoolconflicts before the
// replacement is mined (walletconflicts stay empty), confirmations -1 and no
// details after.
func TestBitcoinCoreFullRBFConflicts(t *testing.T) {
	const (
		replaced    = "06f1aaee778915767055be85798e15c7cb4a33c0c7a9623ac8264684c8bdbb40"
		replacement = "f51acf32600eec1eb6fecf1d934e1092b564a0474c21fb2a91f82e47c3d5934a"
	)
	tests := []struct {
		file             string
		confs            int64
		mempoolConflicts []string
		details          int
	}{
		{"bitcoin-core-28.4/gettransaction-receive-0conf-nonsignalling", 0, []string{}, 1},
		{"bitcoin-core-28.4/gettransaction-after-fullrbf-replacement-unmined", 0, []string{replacement}, 1},
		{"bitcoin-core-28.4/gettransaction-after-fullrbf-replacement-mined", -1, []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, srv := newFakeNode(t, map[string]reply{
				"gettransaction": {tt.file, 200},
				"getnetworkinfo": {"bitcoin-core-28.4/getnetworkinfo", 200},
			})
			tx, err := newClient(t, srv, "/wallet/merchant").GetTransaction(context.Background(), replaced)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Confirmations != tt.confs || !reflect.DeepEqual(tx.MempoolConflicts, tt.mempoolConflicts) ||
				len(tx.WalletConflicts) != 0 || len(tx.Details) != tt.details || tx.Amount != 10_000_000 {
				t.Fatalf("got confirmations %d, mempool conflicts %v, wallet conflicts %v, %d details, amount %d; want %d, %v, none, %d, 10000000",
					tx.Confirmations, tx.MempoolConflicts, tx.WalletConflicts, len(tx.Details), tx.Amount, tt.confs, tt.mempoolConflicts, tt.details)
			}
		})
	}
	_, srv := newFakeNode(t, map[string]reply{
		"listsinceblock": {"bitcoin-core-28.4/listsinceblock-after-fullrbf-replacement-unmined", 200},
		"getnetworkinfo": {"bitcoin-core-28.4/getnetworkinfo", 200},
	})
	res, err := newClient(t, srv, "/wallet/merchant").ListSinceBlock(context.Background(), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transactions) != 1 || !reflect.DeepEqual(res.Transactions[0].MempoolConflicts, []string{replacement}) {
		t.Fatalf("listsinceblock entries = %+v, want the replaced receive with its mempool conflict", res.Transactions)
	}
}
