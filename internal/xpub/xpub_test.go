package xpub

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dogeRegtestKey is the regtest key whose first five P2PKH addresses a real
// Dogecoin Core 1.14.9 node watched in the recorded fixtures
// (../shared/fixtures/dogecoin-1.14.9/README.md).
const dogeRegtestKey = "tpubDDZTsUpkdRpc6gKUKRySNhnzWBNqkfF8iCaaAy7gLTyAxXWfbWmFWV7oKZGKgTsgWrPDcXfgLftTb5Ba1NqeYgNMBk94zeayWqm8DoWv4kG"

// TestBIP32Vectors checks public derivation against the public keys of
// BIP32's test vectors 1 and 2 (every step a public parent can take), and
// that the external chain of a key is its /0 child.
func TestBIP32Vectors(t *testing.T) {
	tests := []struct {
		name          string
		parent, child string
		i             uint32
	}{
		{"vector 1 m/0H -> m/0H/1",
			"xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
			"xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ", 1},
		{"vector 1 m/0H/1/2H -> m/0H/1/2H/2",
			"xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
			"xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV", 2},
		{"vector 1 m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000",
			"xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
			"xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy", 1000000000},
		{"vector 2 m -> m/0",
			"xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
			"xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse("BTC", tt.parent, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := k.account.Derive(tt.i)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tt.child {
				t.Fatalf("child %d: got %s, want %s", tt.i, got, tt.child)
			}
			if tt.i == 0 && k.external.String() != tt.child {
				t.Fatalf("external chain: got %s, want %s", k.external, tt.child)
			}
		})
	}
}

// TestPublishedAddresses derives receiving addresses from published
// account keys of each version and coin and compares them with the
// addresses published beside them.
func TestPublishedAddresses(t *testing.T) {
	tests := []struct {
		name, coin, key string
		typ             AddressType
		chain           string
		i               uint32
		want            string
	}{
		// BIP44 account m/44'/0'/0' of "abandon ×11 about".
		{"BTC xpub", "BTC", "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj",
			"", "main", 0, "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"},
		// BIP84's own test vector, m/84'/0'/0'.
		{"BTC zpub", "BTC", "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
			"", "main", 0, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"},
		// Litecoin BIP44/49/84 accounts as wallet generators publish them.
		{"LTC Ltub", "LTC", "Ltub2ZB5hCtgn7gqVPzt93yqG19A2VGPR8QubaJh1dagpMoJWFBmH2LX4uwRm5ihBQGKHiJLKaKMgfARozBUaBbSeR5A8VxkU5vCZcsFu9G3HHk",
			"", "main", 0, "LTVdcw8fdTTK4TcebTZ4jiiCbvTXaRxZNh"},
		{"LTC Ltub /0/1", "LTC", "Ltub2ZB5hCtgn7gqVPzt93yqG19A2VGPR8QubaJh1dagpMoJWFBmH2LX4uwRm5ihBQGKHiJLKaKMgfARozBUaBbSeR5A8VxkU5vCZcsFu9G3HHk",
			"", "main", 1, "LS8s8ZwXitwqevEfwuwRWqLh9KmRpmNQ68"},
		{"LTC Mtub", "LTC", "Mtub2te8vVn8SuKDHSDsM2ZKMNZnGCErRV1f4cPiT74fCYZF5d4jpAmzHtjJ7Jdn9Ca5yqxL4xk36AN8NBZjbuhFV4aV7tB6swT9mqdkK3GfP45",
			"", "main", 0, "MDgdAHtaQ66jKhWwNHoXQbS1fDmj9hFASV"},
		{"LTC zpub", "LTC", "zpub6qa4qbPy1N6DMjqmrsGfEPxxdNCcrqKNuPvWx3SJKykBhdEmSPtgDUiK7s43K8cisLNbiLZcTCtsTmX7afR5WfRMYJ72CrTHRTDRscRS7rW",
			"", "main", 0, "ltc1qwttt6kexkl8s3vczz3deqcn34elu0t6hmdfu6a"},
		// A Dogecoin BIP44 account as a wallet library publishes it.
		{"DOGE dgub", "DOGE", "dgub8rjvUmFc6cqR6NRBEj2FBZCHUDUrykPyv24Vea6bCsPex5PzNFrRtr4KN37XgwuVzzC2MikJRW2Ddcp99Ehsqp2iaU4eerNCJVruKxz6Gci",
			"", "main", 8, "DLrjRgrVqbbpGrSQUtSYgsiWWMvRz5skQE"},
		// The key a real Dogecoin Core 1.14.9 regtest node watched, and a
		// real litecoind's deriveaddresses for wpkh() of the same key.
		{"DOGE regtest /0/0", "DOGE", dogeRegtestKey, "", "regtest", 0, "n2HAowvGMjQpNQKJUmstZ5CyCWREbfdw7L"},
		{"DOGE regtest /0/1", "DOGE", dogeRegtestKey, "", "regtest", 1, "mwVEB9wQ8hHaBeb832CX8fLpLpiAvNhCZ8"},
		{"DOGE regtest /0/2", "DOGE", dogeRegtestKey, "", "regtest", 2, "mo7K3Z4Xt7xJsHKxv3VfhK1bS9Zz2gLTcs"},
		{"DOGE regtest /0/3", "DOGE", dogeRegtestKey, "", "regtest", 3, "mw5vkJjD2kF9fysXLbM2WxafjnHPR9ewtj"},
		{"DOGE regtest /0/4", "DOGE", dogeRegtestKey, "", "regtest", 4, "n4BnXVrURAzAvimDwbFNgV11SwK5DTKaG1"},
		{"LTC regtest wpkh /0/0", "LTC", dogeRegtestKey, P2WPKH, "regtest", 0, "rltc1quwl58m9ht977xpedj3eufelcycgasa309gm7ls"},
		{"LTC regtest wpkh /0/1", "LTC", dogeRegtestKey, P2WPKH, "regtest", 1, "rltc1q4uhxll94zmjn0g7hp42y8r72tscj33ueewe6af"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.coin, tt.key, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Address(tt.chain, tt.i)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("/0/%d: got %s, want %s", tt.i, got, tt.want)
			}
		})
	}
}

// TestVersionBytes checks what each version says about network and
// address type.
func TestVersionBytes(t *testing.T) {
	tests := []struct {
		coin, key string
		prefix    string
		net       Network
		typ       AddressType
	}{
		{"BTC", "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj", "xpub", Mainnet, P2PKH},
		{"BTC", "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "zpub", Mainnet, P2WPKH},
		{"LTC", "Ltub2ZB5hCtgn7gqVPzt93yqG19A2VGPR8QubaJh1dagpMoJWFBmH2LX4uwRm5ihBQGKHiJLKaKMgfARozBUaBbSeR5A8VxkU5vCZcsFu9G3HHk", "Ltub", Mainnet, P2PKH},
		{"LTC", "Mtub2te8vVn8SuKDHSDsM2ZKMNZnGCErRV1f4cPiT74fCYZF5d4jpAmzHtjJ7Jdn9Ca5yqxL4xk36AN8NBZjbuhFV4aV7tB6swT9mqdkK3GfP45", "Mtub", Mainnet, P2SHP2WPKH},
		{"DOGE", "dgub8rjvUmFc6cqR6NRBEj2FBZCHUDUrykPyv24Vea6bCsPex5PzNFrRtr4KN37XgwuVzzC2MikJRW2Ddcp99Ehsqp2iaU4eerNCJVruKxz6Gci", "dgub", Mainnet, P2PKH},
		{"DOGE", dogeRegtestKey, "tpub", Testnet, P2PKH},
		{"LTC", dogeRegtestKey, "tpub", Testnet, P2PKH},
	}
	for _, tt := range tests {
		t.Run(tt.coin+" "+tt.prefix, func(t *testing.T) {
			if !strings.HasPrefix(tt.key, tt.prefix) {
				t.Fatalf("test key does not start with %s", tt.prefix)
			}
			k, err := Parse(tt.coin, tt.key, "")
			if err != nil {
				t.Fatal(err)
			}
			if k.Prefix != tt.prefix || k.Network != tt.net || k.Type != tt.typ {
				t.Fatalf("got %s %s %s, want %s %s %s", k.Prefix, k.Network, k.Type, tt.prefix, tt.net, tt.typ)
			}
		})
	}
}

// TestRefused checks every value transientd must refuse to start with,
// and that the message says why.
func TestRefused(t *testing.T) {
	const (
		xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
		ltub = "Ltub2ZB5hCtgn7gqVPzt93yqG19A2VGPR8QubaJh1dagpMoJWFBmH2LX4uwRm5ihBQGKHiJLKaKMgfARozBUaBbSeR5A8VxkU5vCZcsFu9G3HHk"
		dgub = "dgub8rjvUmFc6cqR6NRBEj2FBZCHUDUrykPyv24Vea6bCsPex5PzNFrRtr4KN37XgwuVzzC2MikJRW2Ddcp99Ehsqp2iaU4eerNCJVruKxz6Gci"
	)
	tests := []struct {
		name, coin, key string
		typ             AddressType
		want            error
		says            string
	}{
		{"private key", "BTC", xprv, "", ErrPrivate, "private"},
		{"checksum", "BTC", xprv[:len(xprv)-1] + "j", "", ErrMalformed, "checksum"},
		{"garbage", "LTC", "hello", "", ErrMalformed, "length"},
		{"empty", "LTC", "", "", ErrMalformed, "length"},
		{"Ltub for DOGE", "DOGE", ltub, "", ErrWrongCoin, "Ltub key is for LTC"},
		{"dgub for BTC", "BTC", dgub, "", ErrWrongCoin, "dgub key is for DOGE"},
		{"SegWit on Dogecoin", "DOGE", dogeRegtestKey, P2WPKH, ErrAddressType, "no SegWit"},
		{"unknown type", "LTC", dogeRegtestKey, "p2tr", ErrAddressType, "p2tr"},
		{"unknown coin", "XMR", dogeRegtestKey, "", ErrUnsupportedCoin, "XMR"},
		{"multisig", "BTC", "Zpub74CSGvyG8QHx5rA2kEsR8mBYkxJaykwi5jWi7XZDVKbQsGdUcPmG3HMMS4Q4PzR8N3AWHbnNsNpWRMzUYxXn2EpamUJq6AsZt5W3Fs5aakJ", "", ErrWrongCoin, "multisig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.coin, tt.key, tt.typ)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("message %q does not say %q", err, tt.says)
			}
		})
	}
}

// TestCheckChain refuses a mainnet key on a test chain and a test key on
// mainnet, naming both.
func TestCheckChain(t *testing.T) {
	test, err := Parse("DOGE", dogeRegtestKey, "")
	if err != nil {
		t.Fatal(err)
	}
	main, err := Parse("DOGE", "dgub8rjvUmFc6cqR6NRBEj2FBZCHUDUrykPyv24Vea6bCsPex5PzNFrRtr4KN37XgwuVzzC2MikJRW2Ddcp99Ehsqp2iaU4eerNCJVruKxz6Gci", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k     *Key
		chain string
		ok    bool
	}{{test, "regtest", true}, {test, "test", true}, {test, "main", false}, {main, "main", true}, {main, "regtest", false}, {main, "signet", false}} {
		err := c.k.CheckChain(c.chain)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrWrongNetwork)) {
			t.Errorf("%s on %s: got %v, want ok=%v", c.k.Prefix, c.chain, err, c.ok)
		}
		if _, aerr := c.k.Address(c.chain, 0); (aerr == nil) != c.ok {
			t.Errorf("%s on %s: Address gave %v, want ok=%v", c.k.Prefix, c.chain, aerr, c.ok)
		}
	}
	if err := main.CheckChain("regtest"); !strings.Contains(fmt.Sprint(err), "dgub key is a mainnet key but the DOGE node runs regtest") {
		t.Errorf("message: %v", err)
	}
}

// TestID keeps one identity for one key whatever its version bytes or
// address type, and another for another key.
func TestID(t *testing.T) {
	a, _ := Parse("LTC", dogeRegtestKey, "")
	b, _ := Parse("LTC", dogeRegtestKey, P2WPKH)
	c, _ := Parse("BTC", "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj", "")
	if a.ID() != b.ID() || a.ID() == c.ID() || len(a.ID()) != 32 {
		t.Fatalf("ids %s %s %s", a.ID(), b.ID(), c.ID())
	}
	g, err := Generic("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs")
	if err != nil || !strings.HasPrefix(g, "xpub") {
		t.Fatalf("generic: %s %v", g, err)
	}
	z, _ := Parse("BTC", "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs", "")
	x, _ := Parse("BTC", g, P2WPKH)
	if z.ID() != x.ID() {
		t.Fatal("the same key under xpub and zpub has two ids")
	}
}
