// Package coind is Transient's JSON-RPC client for Bitcoin-Core-family coin
// nodes: Litecoin Core 0.21, Dogecoin Core 1.14 and Bitcoin Core. It owns the
// HTTP transport to the node, exact amount conversion (integer base units,
// never float64) and the mapping of node failures onto the sentinel errors
// below, so that callers decide on retries with errors.Is.
//
// # Why not btcd's rpcclient
//
// btcd's rpcclient was measured against litecoind and found unfit
// (docs/coind-regtest.md §7–8):
//   - it decodes addresses with Bitcoin network parameters only, so
//     getnewaddress fails on Litecoin (rltc1…, Q…) and Dogecoin addresses;
//   - it detects the node version from a "/Satoshi:" subversion, so Litecoin
//     and Dogecoin nodes are taken for "bitcoind 0.19 and below" and
//     version-dependent calls send the wrong parameters (getblockchaininfo,
//     sendrawtransaction, testmempoolaccept fail);
//   - its HTTP POST mode is serial and disables keep-alive: 1.7k
//     gettransaction/s where the node serves 7.7k/s to a concurrent
//     keep-alive client;
//   - against a dead node it retries 10 times with backoff, so a call fails
//     only after 22.5 s;
//   - its result structs are lossy: float64 amounts (wrong above 2^53 base
//     units, which Dogecoin balances reach), and no trusted,
//     bip125-replaceable, blockheight, details[].label or listsinceblock
//     "removed".
//
// This client is small instead: one shared keep-alive HTTP client safe for
// concurrent use, responses decoded with json.Decoder.UseNumber, amounts
// parsed from the node's decimal text with ParseAmount and sent as decimal
// strings produced by FormatAmount, no retry loops (a dead node fails at once
// with ErrUnavailable and the caller decides), and node dialects handled from
// getnetworkinfo (NodeInfo): Dogecoin Core 1.14 has the account API, no
// multiwallet and no listsinceblock include_removed.
//
// The package imports no other Transient package.
package coind
