package bitpay

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// The vectors below were computed independently with python-ecdsa 0.18
// (/usr/bin/python3, Debian's python3-ecdsa), the library btcpay-python
// signs with, and hashlib's sha256/ripemd160.

func TestSINVectors(t *testing.T) {
	tests := []struct {
		name, secret, compressed, sin string
	}{
		{"generator (secret 1)", "01",
			"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", "Tf8DhWM5WDBB1CarpFdonta9YEBJgW1GYAt"},
		{"odd y", "2d1bd3d1f2ae4eb5a9b8a8fe1f10f6a2c1e5b9e4d6a7b8c9d0e1f2a3b4c5d6e7",
			"038013f1c7974bbf9ea2fc35ab922beb15066f27bd1992a20181229f79a2aee019", "Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMhH"},
		{"n-1", "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
			"0379be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", "TfDPm9xgJNvHYar48SVYLw6aW4zZhV39H6V"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, _ := hex.DecodeString(tt.secret)
			priv, _ := btcec.PrivKeyFromBytes(secret)
			comp := priv.PubKey().SerializeCompressed()
			if got := hex.EncodeToString(comp); got != tt.compressed {
				t.Fatalf("compressed key = %s, want %s", got, tt.compressed)
			}
			if got := SIN(comp); got != tt.sin {
				t.Errorf("SIN = %s, want %s", got, tt.sin)
			}
			if !ValidSIN(tt.sin) {
				t.Errorf("ValidSIN(%s) = false", tt.sin)
			}
			key, err := ParseIdentity(tt.compressed)
			if err != nil || SIN(key) != tt.sin {
				t.Errorf("ParseIdentity: %v", err)
			}
		})
	}
}

func TestNormalizeLegacySIN(t *testing.T) {
	// The same keys' SINs as early btcpay-python releases wrote them
	// (python-ecdsa, with their alphabet 1-9 A-Z a-w).
	for legacy, want := range map[string]string{
		"Rd8DfUL5UDBB1CYomFblkqY9WEBIeU1GWAq": "Tf8DhWM5WDBB1CarpFdonta9YEBJgW1GYAt",
		"Rd49KgUFlJAA4jvkUKWOegcEvAsFXV1ILfH": "Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMhH",
		"TfDPm9xgJNvHYar48SVYLw6aW4zZhV39H6V": "TfDPm9xgJNvHYar48SVYLw6aW4zZhV39H6V", // standard stays
	} {
		got, ok := NormalizeSIN(legacy)
		if !ok || got != want {
			t.Errorf("NormalizeSIN(%s) = %s, %t; want %s", legacy, got, ok, want)
		}
	}
	if _, ok := NormalizeSIN("Rd8DfUL5UDBB1CYomFblkqY9WEBIeU1GWAr"); ok {
		t.Error("legacy SIN with a bad checksum accepted")
	}
}

func TestValidSINRefuses(t *testing.T) {
	for _, s := range []string{
		"",
		"Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMhJ", // last character changed: checksum
		"Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMh",  // one character short
		"Tf49LiWFoKAA4mynWLYQgieEyAvFZX1JMh0", // 0 is not base58
		"1BoatSLRHtKNngkdXEeobR76b53LETtpyT",  // a Bitcoin address, not a SIN
	} {
		if ValidSIN(s) {
			t.Errorf("ValidSIN(%q) = true", s)
		}
	}
}

func TestBase58RoundTrip(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {0xff, 0xfe}, []byte("transient")} {
		s := base58Encode(b)
		got, err := base58Decode(s)
		if err != nil || hex.EncodeToString(got) != hex.EncodeToString(b) {
			t.Errorf("%x → %q → %x, %v", b, s, got, err)
		}
	}
	if got := base58Encode([]byte{0, 0, 0x39}); got != "11z" {
		t.Errorf("base58Encode(00 00 39) = %q, want 11z", got)
	}
}

// A POST signed by btcpay-python: its host + path, then json.dumps of the
// payload (", " and ": " spacing).
const (
	vectorKey     = "038013f1c7974bbf9ea2fc35ab922beb15066f27bd1992a20181229f79a2aee019"
	vectorMessage = `https://pay.example.com/invoices/{"price": 12.5, "currency": "USD", "orderId": "A-1", "token": "7Lv2m6Y1NvbH9aDnVcM5yJXRbqTRRVJgcHhUmXJbCuzK"}`
	// vectorSigHighS is python-ecdsa's deterministic signature; its S is
	// above n/2.
	vectorSigHighS = "3045022048dc2ac21bbd9b6634bd4bb9605b3fb01be92183ebf6912b1cb271d7678769dc022100f14927419a05a5ed300b311dd5762452a1acd8eb56026c7774594ddfb69343e5"
	// vectorSigLowS is the same signature with S replaced by n - S.
	vectorSigLowS = "3044022048dc2ac21bbd9b6634bd4bb9605b3fb01be92183ebf6912b1cb271d7678769dc02200eb6d8be65fa5a12cff4cee22a89dbac190203fb594633c44b7910ad19a2fd5c"
	// A GET: the URL with '?' and the urlencoded parameters, token last.
	vectorGetMessage = "https://pay.example.com/invoices?status=new&token=7Lv2m6Y1NvbH9aDnVcM5yJXRbqTRRVJgcHhUmXJbCuzK"
	vectorGetSig     = "3046022100e4f612c9657184a8aa8344b6beeab07003c5a4a445333b54866fb2f7c42bf7ac02210099ed56cc7297475bbe007ab1ada80964c7e8f5cb5058ad8acd1521e15f0a0c52"
)

func TestVerifySignatureVectors(t *testing.T) {
	key, err := ParseIdentity(vectorKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ParseIdentity("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	tests := []struct {
		name    string
		key     []byte
		message string
		sig     string
		want    error
	}{
		{"POST, high S", key, vectorMessage, vectorSigHighS, nil},
		{"POST, low S", key, vectorMessage, vectorSigLowS, nil},
		{"GET with query", key, vectorGetMessage, vectorGetSig, nil},
		{"upper-case hex", key, vectorGetMessage, strings.ToUpper(vectorGetSig), nil},
		{"body re-encoded without spaces", key,
			`https://pay.example.com/invoices/{"price":12.5,"currency":"USD","orderId":"A-1","token":"7Lv2m6Y1NvbH9aDnVcM5yJXRbqTRRVJgcHhUmXJbCuzK"}`,
			vectorSigHighS, ErrSignatureMismatch},
		{"price tampered", key, strings.Replace(vectorMessage, "12.5", "1.25", 1), vectorSigHighS, ErrSignatureMismatch},
		{"other host", key, strings.Replace(vectorMessage, "pay.example.com", "127.0.0.1:8080", 1), vectorSigHighS, ErrSignatureMismatch},
		{"query tampered", key, strings.Replace(vectorGetMessage, "new", "paid", 1), vectorGetSig, ErrSignatureMismatch},
		{"another key", otherKey, vectorMessage, vectorSigHighS, ErrSignatureMismatch},
		{"not hex", key, vectorMessage, "zz" + vectorSigHighS[2:], ErrBadSignature},
		{"trailing byte", key, vectorMessage, vectorSigHighS + "00", ErrBadSignature},
		{"truncated", key, vectorMessage, vectorSigHighS[:len(vectorSigHighS)-2], ErrBadSignature},
		{"empty", key, vectorMessage, "", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.key, []byte(tt.message), tt.sig)
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseIdentityRefuses(t *testing.T) {
	for _, id := range []string{
		"",
		"04" + strings.Repeat("00", 64), // uncompressed prefix
		vectorKey[:64],                  // short
		"05" + vectorKey[2:],            // bad prefix
		"02" + strings.Repeat("ff", 32), // x not on the curve
		"xx" + vectorKey[2:],            // not hex
	} {
		if _, err := ParseIdentity(id); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("ParseIdentity(%q) = %v, want ErrBadIdentity", id, err)
		}
	}
}
