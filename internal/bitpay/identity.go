package bitpay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // BitPay's SIN is defined with RIPEMD-160.
)

// base58Alphabet is Bitcoin's base58 alphabet, used by SINs, tokens and
// pairing codes.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in base58, one leading '1' per leading zero byte.
func base58Encode(b []byte) string {
	x := new(big.Int).SetBytes(b)
	base, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for x.Sign() > 0 {
		x.DivMod(x, base, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// legacyAlphabet is the alphabet early btcpay-python releases wrote SINs
// in by mistake: digits 1-9 then A-Z and a-z cut at 58 characters, so their
// SINs start with R instead of T. The number encoded is the right one.
const legacyAlphabet = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"

// base58Decode decodes s, or fails on a character outside the alphabet.
func base58Decode(s string) ([]byte, error) { return decodeBase(s, base58Alphabet) }

// decodeBase decodes s written in a 58-character alphabet.
func decodeBase(s, alphabet string) ([]byte, error) {
	x := new(big.Int)
	base := big.NewInt(58)
	zeros := 0
	for i := 0; i < len(s) && s[i] == alphabet[0]; i++ {
		zeros++
	}
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%q is not a base58 character", s[i])
		}
		x.Mul(x, base).Add(x, big.NewInt(int64(d)))
	}
	return append(make([]byte, zeros), x.Bytes()...), nil
}

// sinPrefix is a SIN's version bytes: 0x0F (SIN) and 0x02 (ephemeral).
var sinPrefix = []byte{0x0f, 0x02}

// SIN returns the BitPay System Identification Number of a compressed
// secp256k1 public key (33 bytes):
//
//	base58( 0x0F 0x02 ‖ RIPEMD160(SHA256(key)) ‖ SHA256(SHA256(those 22 bytes))[:4] )
func SIN(compressedKey []byte) string {
	sha := sha256.Sum256(compressedKey)
	h := ripemd160.New()
	h.Write(sha[:])
	body := append(append([]byte{}, sinPrefix...), h.Sum(nil)...)
	first := sha256.Sum256(body)
	check := sha256.Sum256(first[:])
	return base58Encode(append(body, check[:4]...))
}

// ValidSIN reports whether s is a well-formed SIN: base58 of 26 bytes with
// the SIN version bytes and a correct checksum.
func ValidSIN(s string) bool {
	b, err := base58Decode(s)
	return err == nil && validSINBytes(b)
}

func validSINBytes(b []byte) bool {
	if len(b) != 26 || !bytes.Equal(b[:2], sinPrefix) {
		return false
	}
	first := sha256.Sum256(b[:22])
	check := sha256.Sum256(first[:])
	return bytes.Equal(check[:4], b[22:])
}

// NormalizeSIN returns the SIN s in standard base58, accepting also the
// legacy alphabet of early btcpay-python releases (whose clients then sign
// with a key whose standard SIN is the one returned). ok is false when s is
// a SIN in neither form.
func NormalizeSIN(s string) (sin string, ok bool) {
	if ValidSIN(s) {
		return s, true
	}
	b, err := decodeBase(s, legacyAlphabet)
	if err != nil || !validSINBytes(b) {
		return "", false
	}
	return base58Encode(b), true
}

// Errors of request signatures. Each says what the client got wrong.
var (
	// ErrBadIdentity means X-Identity is not a compressed secp256k1 public
	// key in hex.
	ErrBadIdentity = errors.New("X-Identity must be the client's compressed secp256k1 public key in hex (66 characters)")
	// ErrBadSignature means X-Signature is not a hex DER ECDSA signature.
	ErrBadSignature = errors.New("X-Signature must be a hex DER ECDSA signature")
	// ErrSignatureMismatch means the signature does not verify: the URL or
	// body differ from what was signed, or another key signed them.
	ErrSignatureMismatch = errors.New("X-Signature does not match the request: sign SHA-256 of the full URL followed by the exact body, with the key in X-Identity")
	// ErrBadSIN means a pairing request's id is not a SIN.
	ErrBadSIN = errors.New("'id' must be the client's SIN (base58, starting with T), derived from its public key")
)

// ParseIdentity parses X-Identity: a compressed secp256k1 public key in hex.
// It returns the key's 33 bytes.
func ParseIdentity(identity string) ([]byte, error) {
	raw, err := hex.DecodeString(identity)
	if err != nil || len(raw) != btcec.PubKeyBytesLenCompressed || (raw[0] != 0x02 && raw[0] != 0x03) {
		return nil, ErrBadIdentity
	}
	if _, err := btcec.ParsePubKey(raw); err != nil {
		return nil, ErrBadIdentity
	}
	return raw, nil
}

// VerifySignature checks that signatureHex is a DER ECDSA signature by the
// compressed key of SHA-256(message). message is the exact bytes the client
// signed (the full URL followed by the raw body); it is never re-encoded.
// High-S signatures are accepted: python-ecdsa, which btcpay-python uses,
// does not normalise S.
func VerifySignature(compressedKey []byte, message []byte, signatureHex string) error {
	key, err := btcec.ParsePubKey(compressedKey)
	if err != nil {
		return ErrBadIdentity
	}
	der, err := hex.DecodeString(signatureHex)
	if err != nil || len(der) < 2 || int(der[1])+2 != len(der) {
		return ErrBadSignature
	}
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return ErrBadSignature
	}
	hash := sha256.Sum256(message)
	if !sig.Verify(hash[:], key) {
		return ErrSignatureMismatch
	}
	return nil
}
