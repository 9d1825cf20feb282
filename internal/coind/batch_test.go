package coind_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/coind"
	"github.com/transient-gateway/transient/internal/regtest"
)

// batchCall is one call of a JSON-RPC batch request.
type batchCall struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func TestGetNewAddressesIsOneBatchRequest(t *testing.T) {
	var requests atomic.Int32
	var got []batchCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("body %s is not a JSON array of calls: %v", body, err)
			return
		}
		// Answer in reverse order, the third call failing as a node
		// whose keypool ran dry would.
		var out []string
		for i := len(got) - 1; i >= 0; i-- {
			if i == 2 {
				out = append(out, `{"result":null,"error":{"code":-12,"message":"Error: Keypool ran out"},"id":`+string(got[i].ID)+`}`)
				continue
			}
			out = append(out, `{"result":"addr`+string(rune('0'+i))+`","error":null,"id":`+string(got[i].ID)+`}`)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "["+strings.Join(out, ",")+"]\n")
	}))
	defer srv.Close()
	c, err := coind.New(coind.Config{URL: strings.Replace(srv.URL, "http://", "http://u:p@", 1)})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := c.GetNewAddresses(t.Context(), 5, "")
	if requests.Load() != 1 || len(got) != 5 {
		t.Fatalf("%d HTTP requests carrying %d calls, want 1 carrying 5", requests.Load(), len(got))
	}
	for _, call := range got {
		if call.Method != "getnewaddress" || len(call.Params) != 1 || string(call.Params[0]) != `""` {
			t.Fatalf("call %+v, want getnewaddress with one empty label", call)
		}
	}
	if want := []string{"addr0", "addr1", "addr3", "addr4"}; !slices.Equal(addrs, want) {
		t.Errorf("addresses %v, want %v (in call order, without the failed call's)", addrs, want)
	}
	var rpcErr *coind.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != -12 || rpcErr.Method != "getnewaddress" {
		t.Errorf("error %v, want the failed call's *coind.Error -12", err)
	}
}

func TestGetNewAddressesNodeDown(t *testing.T) {
	c, err := coind.New(coind.Config{URL: "http://u:p@" + freeClosedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := c.GetNewAddresses(t.Context(), 3, "")
	if len(addrs) != 0 || !errors.Is(err, coind.ErrUnavailable) {
		t.Fatalf("got %v, %v; want no address and ErrUnavailable", addrs, err)
	}
}

func TestSetLabelUsesTheNodesRPC(t *testing.T) {
	tests := []struct {
		name, subversion, method string
	}{
		{"Litecoin Core", "/LitecoinCore:0.21.2.1/", "setlabel"},
		{"Dogecoin Core 1.14 (account API)", "/Shibetoshi:1.14.9/", "setaccount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []batchCall
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var call batchCall
				_ = json.NewDecoder(r.Body).Decode(&call)
				calls = append(calls, call)
				result := `null`
				if call.Method == "getnetworkinfo" {
					result = `{"version":1,"subversion":"` + tt.subversion + `"}`
				}
				_, _ = io.WriteString(w, `{"result":`+result+`,"error":null,"id":`+string(call.ID)+`}`)
			}))
			defer srv.Close()
			c, err := coind.New(coind.Config{URL: strings.Replace(srv.URL, "http://", "http://u:p@", 1)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetLabel(t.Context(), "addr", "order-42"); err != nil {
				t.Fatal(err)
			}
			last := calls[len(calls)-1]
			if last.Method != tt.method || len(last.Params) != 2 || string(last.Params[0]) != `"addr"` || string(last.Params[1]) != `"order-42"` {
				t.Errorf("sent %s %s, want %s [\"addr\",\"order-42\"]", last.Method, last.Params, tt.method)
			}
		})
	}
}

func TestGetNewAddressesLitecoind(t *testing.T) {
	n := regtest.StartT(t, regtest.Options{})
	c := n.Client(regtest.MerchantWallet)
	addrs, err := c.GetNewAddresses(t.Context(), 50, "")
	if err != nil || len(addrs) != 50 {
		t.Fatalf("got %d addresses, %v; want 50", len(addrs), err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("address %s twice", a)
		}
		seen[a] = true
	}
	var info struct {
		IsMine bool `json:"ismine"`
	}
	if err := c.Call(t.Context(), "getaddressinfo", []any{addrs[49]}, &info); err != nil || !info.IsMine {
		t.Fatalf("getaddressinfo %s: %+v, %v; want the wallet's", addrs[49], info, err)
	}
	if err := c.SetLabel(t.Context(), addrs[0], "order-7"); err != nil {
		t.Fatal(err)
	}
	var labelled struct {
		Labels []string `json:"labels"`
	}
	if err := c.Call(t.Context(), "getaddressinfo", []any{addrs[0]}, &labelled); err != nil || !slices.Equal(labelled.Labels, []string{"order-7"}) {
		t.Fatalf("labels of %s: %v, %v; want [order-7]", addrs[0], labelled.Labels, err)
	}
}

// TestGetNewAddressEachLitecoind: one batch request makes an address per
// label, each with its own label in the wallet; a call the node refuses
// ("*" is no label on Litecoin Core 0.21) fails alone; a node that is down
// fails the request as a whole with ErrUnavailable.
func TestGetNewAddressEachLitecoind(t *testing.T) {
	t.Parallel()
	n := regtest.StartT(t, regtest.Options{})
	var batches atomic.Int32
	c, err := coind.New(coind.Config{URL: n.URL(regtest.MerchantWallet), Observe: func(method string, _ time.Duration, _ error) {
		if method == "batch:getnewaddress" {
			batches.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before the node stops: it waits for idle connections
	labels := []string{"order-1", "*", "order-3", ""}
	addrs, errs, err := c.GetNewAddressEach(t.Context(), labels)
	if err != nil || len(addrs) != len(labels) || len(errs) != len(labels) || batches.Load() != 1 {
		t.Fatalf("GetNewAddressEach: %v, %v, %v in %d batch requests; want %d answers in one", addrs, errs, err, batches.Load(), len(labels))
	}
	var rpcErr *coind.Error
	if !errors.As(errs[1], &rpcErr) || rpcErr.Code != -11 || addrs[1] != "" {
		t.Errorf("call with label \"*\": %q, %v; want the node's -11 alone", addrs[1], errs[1])
	}
	for _, i := range []int{0, 2, 3} {
		var info struct {
			IsMine bool     `json:"ismine"`
			Labels []string `json:"labels"`
		}
		if errs[i] != nil {
			t.Fatalf("call %d (label %q): %v", i, labels[i], errs[i])
		}
		if err := c.Call(t.Context(), "getaddressinfo", []any{addrs[i]}, &info); err != nil || !info.IsMine || !slices.Equal(info.Labels, []string{labels[i]}) {
			t.Errorf("getaddressinfo %s: %+v, %v; want the wallet's, labelled %q", addrs[i], info, err, labels[i])
		}
	}
	if addrs[0] == addrs[2] || addrs[2] == addrs[3] || addrs[0] == addrs[3] {
		t.Errorf("addresses %v are not distinct", addrs)
	}

	down, err := coind.New(coind.Config{URL: "http://u:p@" + freeClosedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	if addrs, errs, err := down.GetNewAddressEach(t.Context(), labels); addrs != nil || errs != nil || !errors.Is(err, coind.ErrUnavailable) {
		t.Fatalf("node down: %v, %v, %v; want no answer and ErrUnavailable", addrs, errs, err)
	}
}
