package xpub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/transient-gateway/transient/internal/regtest"
)

// TestAgainstLitecoind derives the first addresses of one key for each
// address type and compares them with a real litecoind's deriveaddresses
// for the matching descriptor: pkh(), sh(wpkh()) and wpkh().
func TestAgainstLitecoind(t *testing.T) {
	n := regtest.StartT(t, regtest.Options{})
	c := n.Client("")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const count = 20
	for _, tc := range []struct {
		typ  AddressType
		desc string
	}{
		{P2PKH, "pkh(%s/0/*)"},
		{P2SHP2WPKH, "sh(wpkh(%s/0/*))"},
		{P2WPKH, "wpkh(%s/0/*)"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			var info struct {
				Descriptor string `json:"descriptor"`
			}
			if err := c.Call(ctx, "getdescriptorinfo", []any{fmt.Sprintf(tc.desc, dogeRegtestKey)}, &info); err != nil {
				t.Fatal(err)
			}
			var want []string
			if err := c.Call(ctx, "deriveaddresses", []any{info.Descriptor, []int{0, count - 1}}, &want); err != nil {
				t.Fatal(err)
			}
			if len(want) != count {
				t.Fatalf("litecoind derived %d addresses, want %d", len(want), count)
			}
			k, err := Parse("LTC", dogeRegtestKey, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				got, err := k.Address("regtest", uint32(i))
				if err != nil {
					t.Fatal(err)
				}
				if got != w {
					t.Fatalf("/0/%d: got %s, litecoind says %s", i, got, w)
				}
			}
		})
	}
}
