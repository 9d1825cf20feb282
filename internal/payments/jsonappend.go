package payments

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/transient-gateway/transient/internal/coind"
)

// AppendJSON appends j to b exactly as encoding/json encodes it (field
// order, HTML-safe string escaping, no trailing newline), without
// reflection: GET /payments/{id} answers with it on every read, where
// encoding/json's reflection and its re-validation of each Amount's
// MarshalJSON output were a sizeable part of the CPU per request.
// TestAppendJSONMatchesEncodingJSON holds the two to the same bytes. ok is
// false, and b must be discarded, when a time cannot be written as RFC 3339
// (encoding/json fails on it too).
func (j PublicPaymentJSON) AppendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, '{')
	b = j.appendHead(b)
	if b, ok = j.appendTail(b); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// AppendJSON appends j to b exactly as encoding/json encodes it, like
// PublicPaymentJSON.AppendJSON; POST /payments answers with it. Metadata,
// free JSON, still goes through encoding/json (compacted and escaped the
// same way). ok is false, and b must be discarded, when encoding/json
// would fail (a time out of RFC 3339's range, metadata that is not JSON).
func (j PaymentJSON) AppendJSON(b []byte) (_ []byte, ok bool) {
	pub := j.Public()
	b = append(b, '{')
	b = pub.appendHead(b)
	b = append(b, `,"account":`...)
	b = appendJSONString(b, j.Account)
	if b, ok = pub.appendTail(b); !ok {
		return b, false
	}
	b = append(b, `,"order_id":`...)
	b = appendJSONStringPtr(b, j.OrderID)
	b = append(b, `,"metadata":`...)
	meta, err := json.Marshal(j.Metadata)
	if err != nil {
		return b, false
	}
	b = append(b, meta...)
	b = append(b, `,"redirect_url":`...)
	b = appendJSONStringPtr(b, j.RedirectURL)
	return append(b, '}'), true
}

// reflectedPayment and reflectedPublicPayment have the fields and tags of
// PaymentJSON and PublicPaymentJSON without their MarshalJSON methods:
// what encoding/json makes of them is the reference AppendJSON matches,
// and the fallback when AppendJSON cannot write a value.
type (
	reflectedPayment       PaymentJSON
	reflectedPublicPayment PublicPaymentJSON
)

// MarshalJSON implements json.Marshaler through AppendJSON, so that every
// encoding of a payment (the event payload written with each event, the
// webhook bodies, lists) skips reflection. The bytes are encoding/json's.
func (j PaymentJSON) MarshalJSON() ([]byte, error) {
	if b, ok := j.AppendJSON(make([]byte, 0, 1024)); ok {
		return b, nil
	}
	return json.Marshal(reflectedPayment(j))
}

// MarshalJSON implements json.Marshaler like PaymentJSON's.
func (j PublicPaymentJSON) MarshalJSON() ([]byte, error) {
	if b, ok := j.AppendJSON(make([]byte, 0, 1024)); ok {
		return b, nil
	}
	return json.Marshal(reflectedPublicPayment(j))
}

// appendHead appends the fields from id to payment_uri, the order both
// views share.
func (j *PublicPaymentJSON) appendHead(b []byte) []byte {
	b = append(b, `"id":`...)
	b = appendJSONString(b, j.ID)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, j.Currency)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(j.Status))
	b = append(b, `,"amount":`...)
	b = coind.AppendAmount(b, int64(j.Amount))
	b = append(b, `,"amount_received":`...)
	b = coind.AppendAmount(b, int64(j.AmountReceived))
	b = append(b, `,"amount_recieved":`...)
	b = coind.AppendAmount(b, int64(j.AmountRecieved))
	b = append(b, `,"amount_confirmed":`...)
	b = coind.AppendAmount(b, int64(j.AmountConfirmed))
	b = append(b, `,"amount_due":`...)
	b = coind.AppendAmount(b, int64(j.AmountDue))
	b = append(b, `,"overpaid":`...)
	b = strconv.AppendBool(b, j.Overpaid)
	b = append(b, `,"paid_late":`...)
	b = strconv.AppendBool(b, j.PaidLate)
	b = append(b, `,"settled":`...)
	b = strconv.AppendBool(b, j.Settled)
	b = append(b, `,"payment_address":`...)
	b = appendJSONString(b, j.PaymentAddress)
	b = append(b, `,"payment_uri":`...)
	return appendJSONString(b, j.PaymentURI)
}

// appendTail appends the fields from confirmations_required to
// expires_at, the order both views share.
func (j *PublicPaymentJSON) appendTail(b []byte) (_ []byte, ok bool) {
	b = append(b, `,"confirmations_required":`...)
	b = strconv.AppendInt(b, j.ConfirmationsRequired, 10)
	b = append(b, `,"transactions":`...)
	if j.Transactions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range j.Transactions {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = t.appendJSON(b); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"created_at":`...)
	if b, ok = appendJSONTime(b, j.CreatedAt); !ok {
		return b, false
	}
	b = append(b, `,"updated_at":`...)
	if b, ok = appendJSONTime(b, j.UpdatedAt); !ok {
		return b, false
	}
	b = append(b, `,"expires_at":`...)
	if j.ExpiresAt == nil {
		return append(b, "null"...), true
	}
	return appendJSONTime(b, *j.ExpiresAt)
}

// appendJSONStringPtr appends *s as a JSON string, or null.
func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// appendJSON appends t as encoding/json encodes it.
func (t TransactionJSON) appendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"txid":`...)
	b = appendJSONString(b, t.TxID)
	b = append(b, `,"vout":`...)
	b = strconv.AppendUint(b, uint64(t.Vout), 10)
	b = append(b, `,"amount":`...)
	b = coind.AppendAmount(b, int64(t.Amount))
	b = append(b, `,"confirmations":`...)
	b = strconv.AppendInt(b, t.Confirmations, 10)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(t.State))
	b = append(b, `,"block_hash":`...)
	if t.BlockHash == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *t.BlockHash)
	}
	b = append(b, `,"block_height":`...)
	if t.BlockHeight == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *t.BlockHeight, 10)
	}
	b = append(b, `,"first_seen_at":`...)
	if b, ok = appendJSONTime(b, t.FirstSeenAt); !ok {
		return b, false
	}
	b = append(b, `,"received_at":`...)
	if b, ok = appendJSONTime(b, t.ReceivedAt); !ok {
		return b, false
	}
	return append(b, '}'), true
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it, or
// reports false where MarshalJSON fails: a year outside 0–9999 or a zone
// offset that is not whole minutes.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset%60 != 0 || offset <= -24*3600 || offset >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// appendJSONString appends s as a JSON string the way encoding/json does
// with HTML escaping on (its default): quotes, backslashes and control
// characters escaped, <, > and & as \u003c, \u003e and \u0026, U+2028 and
// U+2029 escaped, and each byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
