// Package xpub owns the merchant's extended public key: parsing
// <COIN>_XPUB (its version bytes say the network and, for SLIP-132 keys,
// the address type) and deriving the receiving addresses of its external
// chain, /0/i, in Go. It holds no private key and refuses one.
//
// Derivation is btcd's btcutil/hdkeychain (BIP32) and its address types;
// the address encodings of Dogecoin and Litecoin are the same formats with
// their own version bytes and bech32 prefixes, given here per coin and
// chain.
package xpub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// AddressType is the kind of address derived from each public key.
type AddressType string

// The address types a key can give.
const (
	P2PKH      AddressType = "p2pkh"       // legacy: 1…, L…, D…, m…/n…
	P2SHP2WPKH AddressType = "p2sh-p2wpkh" // SegWit wrapped in P2SH: 3…, M…, 2…/Q…
	P2WPKH     AddressType = "p2wpkh"      // native SegWit: bc1q…, ltc1q…, rltc1q…
)

// AddressTypes lists the values <COIN>_ADDRESS_TYPE accepts.
var AddressTypes = []AddressType{P2PKH, P2SHP2WPKH, P2WPKH}

// Network is the kind of chain a key's version bytes are for.
type Network int

// Networks. Testnet keys (tpub, upub, vpub) serve regtest too: the nodes
// themselves print regtest keys as tpub.
const (
	Mainnet Network = iota
	Testnet
)

func (n Network) String() string {
	if n == Mainnet {
		return "mainnet"
	}
	return "testnet/regtest"
}

// Errors. Each wraps into a message that names the key and says what to do.
var (
	// ErrMalformed is a value that is no extended key: bad base58, length
	// or checksum, or a public key off the curve.
	ErrMalformed = errors.New("not a valid extended public key")
	// ErrPrivate is an extended private key (xprv, tprv, zprv…): the
	// gateway must never hold one.
	ErrPrivate = errors.New("an extended private key")
	// ErrWrongCoin is a key whose version bytes belong to another coin
	// (an Ltub for DOGE, a dgub for BTC) or are unknown.
	ErrWrongCoin = errors.New("a key for another coin")
	// ErrWrongNetwork is a mainnet key on a test chain or the other way
	// round.
	ErrWrongNetwork = errors.New("a key for another network")
	// ErrAddressType is an address type the coin cannot use (SegWit on
	// Dogecoin) or an unknown one.
	ErrAddressType = errors.New("an address type the coin does not have")
	// ErrUnsupportedCoin is a coin this package has no parameters for.
	ErrUnsupportedCoin = errors.New("no extended key support for this coin")
)

// version describes one set of public version bytes.
type version struct {
	prefix  string // what the base58 text starts with
	coins   []string
	network Network
	typ     AddressType
}

// versions maps public version bytes (SLIP-132 and the coins' own
// chainparams) to what they say. Litecoin Core and Electrum-LTC print
// Bitcoin's xpub/ypub/zpub; Trezor and Ledger print Ltub/Mtub. Dogecoin
// Core prints dgub on mainnet and tpub on testnet and regtest.
var versions = map[[4]byte]version{
	{0x04, 0x88, 0xb2, 0x1e}: {"xpub", []string{"BTC", "LTC"}, Mainnet, P2PKH},
	{0x04, 0x9d, 0x7c, 0xb2}: {"ypub", []string{"BTC", "LTC"}, Mainnet, P2SHP2WPKH},
	{0x04, 0xb2, 0x47, 0x46}: {"zpub", []string{"BTC", "LTC"}, Mainnet, P2WPKH},
	{0x01, 0x9d, 0xa4, 0x62}: {"Ltub", []string{"LTC"}, Mainnet, P2PKH},
	{0x01, 0xb2, 0x6e, 0xf6}: {"Mtub", []string{"LTC"}, Mainnet, P2SHP2WPKH},
	{0x02, 0xfa, 0xca, 0xfd}: {"dgub", []string{"DOGE"}, Mainnet, P2PKH},
	{0x04, 0x35, 0x87, 0xcf}: {"tpub", []string{"BTC", "LTC", "DOGE"}, Testnet, P2PKH},
	{0x04, 0x4a, 0x52, 0x62}: {"upub", []string{"BTC", "LTC"}, Testnet, P2SHP2WPKH},
	{0x04, 0x5f, 0x1c, 0xf6}: {"vpub", []string{"BTC", "LTC"}, Testnet, P2WPKH},
	{0x04, 0x36, 0xf6, 0xe1}: {"ttub", []string{"LTC"}, Testnet, P2PKH},
}

// multisigPrefixes are SLIP-132 multisig keys (Ypub, Zpub…): one key of
// several cannot make the shared addresses.
var multisigPrefixes = []string{"Ypub", "Zpub", "Upub", "Vpub"}

// addressParams are the encodings of one coin on one chain.
type addressParams struct {
	pkh, sh byte
	hrp     string // "" when the coin has no SegWit
}

// chains maps coin and chain name (getblockchaininfo's "chain": main,
// test, regtest) to address encodings.
var chains = map[string]map[string]addressParams{
	"BTC": {
		"main":    {0x00, 0x05, "bc"},
		"test":    {0x6f, 0xc4, "tb"},
		"signet":  {0x6f, 0xc4, "tb"},
		"regtest": {0x6f, 0xc4, "bcrt"},
	},
	"LTC": {
		"main":    {0x30, 0x32, "ltc"},
		"test":    {0x6f, 0x3a, "tltc"},
		"regtest": {0x6f, 0x3a, "rltc"},
	},
	"DOGE": {
		"main":    {0x1e, 0x16, ""},
		"test":    {0x71, 0xc4, ""},
		"regtest": {0x6f, 0xc4, ""},
	},
}

// Supported reports whether coin has extended key support.
func Supported(coin string) bool { _, ok := chains[coin]; return ok }

// Key is a parsed account-level extended public key.
type Key struct {
	Coin    string
	Prefix  string // the version's name: xpub, tpub, dgub…
	Network Network
	Type    AddressType
	account *hdkeychain.ExtendedKey
	// external is the key's /0 child, the chain receiving addresses come
	// from.
	external *hdkeychain.ExtendedKey
	id       string
}

// Parse reads an extended public key for coin. typ, when not empty,
// overrides the address type the version bytes say (regtest keys are all
// tpub). The error says which of the sentinel errors above the value is
// and why, without repeating the value.
func Parse(coin, s string, typ AddressType) (*Key, error) {
	coin = strings.ToUpper(coin)
	if !Supported(coin) {
		return nil, fmt.Errorf("%w %s (known: BTC, DOGE, LTC)", ErrUnsupportedCoin, coin)
	}
	s = strings.TrimSpace(s)
	for _, p := range multisigPrefixes {
		if strings.HasPrefix(s, p) {
			return nil, fmt.Errorf("%w: %s is a multisig key; give a single-signature account key", ErrWrongCoin, p)
		}
	}
	ext, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ext.IsPrivate() {
		return nil, fmt.Errorf("%w: give the account's extended public key (xpub, zpub, dgub…), never its private key; "+
			"treat this one as exposed", ErrPrivate)
	}
	v, ok := versions[[4]byte(ext.Version())]
	if !ok {
		return nil, fmt.Errorf("%w: unknown version bytes %x", ErrWrongCoin, ext.Version())
	}
	if !slices.Contains(v.coins, coin) {
		return nil, fmt.Errorf("%w: a %s key is for %s, not %s", ErrWrongCoin, v.prefix, strings.Join(v.coins, " or "), coin)
	}
	k := &Key{Coin: coin, Prefix: v.prefix, Network: v.network, Type: v.typ, account: ext}
	if typ != "" {
		if !slices.Contains(AddressTypes, typ) {
			return nil, fmt.Errorf("%w: %q (use p2pkh, p2sh-p2wpkh or p2wpkh)", ErrAddressType, typ)
		}
		k.Type = typ
	}
	if coin == "DOGE" && k.Type != P2PKH {
		return nil, fmt.Errorf("%w: Dogecoin has no SegWit, only p2pkh", ErrAddressType)
	}
	if k.external, err = ext.Derive(0); err != nil {
		return nil, fmt.Errorf("%w: derive the external chain: %v", ErrMalformed, err)
	}
	// The identity is the key material alone: the same key written with
	// other version bytes (xpub or zpub) goes on with the same indexes.
	pub, _ := ext.ECPubKey()
	sum := sha256.Sum256(append(slices.Clone(ext.ChainCode()), pub.SerializeCompressed()...))
	k.id = hex.EncodeToString(sum[:16])
	return k, nil
}

// ID names the key's material (not its version bytes or address type) in
// 32 hex digits, to keep its next index under; it reveals nothing of the
// key.
func (k *Key) ID() string { return k.id }

// CheckChain checks that the key's network fits chain, the node's
// getblockchaininfo "chain" (main, test, signet, regtest).
func (k *Key) CheckChain(chain string) error {
	if _, ok := chains[k.Coin][chain]; !ok {
		return fmt.Errorf("%w: %s has no chain %q here", ErrWrongNetwork, k.Coin, chain)
	}
	onMain := chain == "main"
	if onMain != (k.Network == Mainnet) {
		return fmt.Errorf("%w: a %s key is a %s key but the %s node runs %s", ErrWrongNetwork, k.Prefix, k.Network, k.Coin, chain)
	}
	return nil
}

// Address returns the receiving address /0/i of the key on chain. i must be
// below 2^31 (hardened indexes need the private key).
func (k *Key) Address(chain string, i uint32) (string, error) {
	if err := k.CheckChain(chain); err != nil {
		return "", err
	}
	if i >= hdkeychain.HardenedKeyStart {
		return "", fmt.Errorf("xpub: index %d is past the last non-hardened index", i)
	}
	child, err := k.external.Derive(i)
	if err != nil {
		// One index in about 2^127 gives no valid key; BIP32 says to skip
		// it, which the caller does by taking the next index.
		return "", fmt.Errorf("xpub: derive /0/%d: %w", i, err)
	}
	pub, err := child.ECPubKey()
	if err != nil {
		return "", fmt.Errorf("xpub: derive /0/%d: %w", i, err)
	}
	ap := chains[k.Coin][chain]
	net := &chaincfg.Params{PubKeyHashAddrID: ap.pkh, ScriptHashAddrID: ap.sh, Bech32HRPSegwit: ap.hrp}
	hash := btcutil.Hash160(pub.SerializeCompressed())
	var a btcutil.Address
	switch k.Type {
	case P2PKH:
		a, err = btcutil.NewAddressPubKeyHash(hash, net)
	case P2WPKH:
		a, err = btcutil.NewAddressWitnessPubKeyHash(hash, net)
	case P2SHP2WPKH:
		// The redeem script is a version 0 witness program: OP_0 <20 bytes>.
		a, err = btcutil.NewAddressScriptHash(append([]byte{0x00, 0x14}, hash...), net)
	}
	if err != nil {
		return "", fmt.Errorf("xpub: encode /0/%d: %w", i, err)
	}
	return a.EncodeAddress(), nil
}

// Generic returns the key written with the plain xpub (mainnet) or tpub
// (test chains) version bytes, as Bitcoin-family nodes read descriptors.
func Generic(s string) (string, error) {
	ext, err := hdkeychain.NewKeyFromString(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	v, ok := versions[[4]byte(ext.Version())]
	if !ok {
		return "", fmt.Errorf("%w: unknown version bytes %x", ErrWrongCoin, ext.Version())
	}
	want := []byte{0x04, 0x88, 0xb2, 0x1e}
	if v.network == Testnet {
		want = []byte{0x04, 0x35, 0x87, 0xcf}
	}
	if bytes.Equal(ext.Version(), want) {
		return ext.String(), nil
	}
	g, err := ext.CloneWithVersion(want)
	if err != nil {
		return "", err
	}
	return g.String(), nil
}
