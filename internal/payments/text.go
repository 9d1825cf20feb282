package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// Limits on metadata beyond its size (maxMetadataLen): receivers of
// webhooks parse it too, and common JSON parsers give up at depths of 100
// to 512.
const (
	maxMetadataDepth = 32
	maxMetadataKeys  = 256
	// maxNumberExponent bounds the decimal exponent of a metadata number:
	// PostgreSQL's numeric refuses 1e1000000, and no client needs more than
	// a double's range.
	maxNumberExponent = 308
)

// ValidText reports whether s can be stored as PostgreSQL text: valid UTF-8
// without NUL characters. Every text a client sends is checked with it
// before anything is stored or a node is asked for an address.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// checkText refuses a text field that is too long or that PostgreSQL
// cannot store.
func checkText(field, v string, maxLen int) error {
	if len(v) > maxLen || !ValidText(v) {
		return invalidField(field, fmt.Sprintf("%s must be valid UTF-8 of at most %d bytes, without NUL characters", field, maxLen))
	}
	return nil
}

// CheckMetadata checks metadata as PostgreSQL's jsonb and a webhook
// receiver will read it: a JSON object of at most maxMetadataLen bytes,
// valid UTF-8, without \u0000 or unpaired surrogate escapes, nested at most
// maxMetadataDepth deep with at most maxMetadataKeys keys in all, and
// numbers within a double's range. field names the request field in the
// returned *Error.
func CheckMetadata(field string, raw json.RawMessage) error {
	if len(raw) > maxMetadataLen {
		return invalidField(field, fmt.Sprintf("%s must be at most %d bytes of JSON", field, maxMetadataLen))
	}
	if !utf8.Valid(raw) {
		return invalidField(field, field+" must be valid UTF-8")
	}
	if esc := badEscape(raw, true); esc != "" {
		return invalidField(field, fmt.Sprintf("%s must not contain %s: PostgreSQL cannot store it", field, esc))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return invalidField(field, field+" must be a JSON object")
	}
	keys := 0
	if msg := walkMetadata(obj, 1, &keys); msg != "" {
		return invalidField(field, field+" "+msg)
	}
	return nil
}

// walkMetadata checks the depth, the key count and the numbers of a
// decoded metadata value; it returns what is wrong, or "".
func walkMetadata(v any, depth int, keys *int) string {
	switch v.(type) {
	case map[string]any, []any:
		if depth > maxMetadataDepth {
			return fmt.Sprintf("must be nested at most %d levels deep", maxMetadataDepth)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		*keys += len(x)
		if *keys > maxMetadataKeys {
			return fmt.Sprintf("must have at most %d keys in all", maxMetadataKeys)
		}
		for _, e := range x {
			if msg := walkMetadata(e, depth+1, keys); msg != "" {
				return msg
			}
		}
	case []any:
		for _, e := range x {
			if msg := walkMetadata(e, depth+1, keys); msg != "" {
				return msg
			}
		}
	case json.Number:
		if !numberInRange(string(x)) {
			return fmt.Sprintf("numbers must be within ±1e%d; send %s as a string", maxNumberExponent, x)
		}
	}
	return ""
}

// numberInRange reports whether the JSON number text is finite as a
// double and its exponent within ±maxNumberExponent.
func numberInRange(text string) bool {
	if _, err := strconv.ParseFloat(text, 64); err != nil {
		return false
	}
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(text[i+1:], "+"))
		if err != nil || exp > maxNumberExponent || exp < -maxNumberExponent {
			return false
		}
	}
	return true
}

// badEscape returns the name of the first escape in the strings of raw
// that PostgreSQL's jsonb refuses (\u0000 when nul is set, or a surrogate
// escape that is not half of a pair), or "". Go's decoder turns both into
// other text without a word, so they must be found in the raw bytes.
func badEscape(raw []byte, nul bool) string {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+5 >= len(raw) || raw[i+1] != 'u' {
				i++ // a one-character escape such as \" or \\
				continue
			}
			v, ok := hex4(raw[i+2 : i+6])
			switch {
			case !ok:
				return "" // not JSON: the decoder says so
			case v == 0 && nul:
				return `a NUL character (\u0000)`
			case v >= 0xD800 && v < 0xDC00:
				if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					if w, ok := hex4(raw[i+8 : i+12]); ok && w >= 0xDC00 && w < 0xE000 {
						i += 11
						continue
					}
				}
				return fmt.Sprintf(`an unpaired surrogate (\u%04x)`, v)
			case v >= 0xDC00 && v < 0xE000:
				return fmt.Sprintf(`an unpaired surrogate (\u%04x)`, v)
			}
			i += 5
		}
	}
	return ""
}

// LoneSurrogate reports whether a string in the JSON text raw holds a
// surrogate escape that is not half of a pair, such as "\ud800".
// encoding/json decodes one into U+FFFD without a word, so a decoder that
// must keep text as sent refuses the body instead.
func LoneSurrogate(raw []byte) bool { return badEscape(raw, false) != "" }

func hex4(b []byte) (int, bool) {
	v, err := strconv.ParseUint(string(b), 16, 16)
	return int(v), err == nil
}

// DatabaseRefusedInput reports whether PostgreSQL refused a statement
// because of a value in it: a data exception (SQLSTATE class 22, such as a
// NUL byte or invalid UTF-8, 22021, or numeric overflow, 22003) or a CHECK
// constraint (23514). Validation refuses such values first, naming the
// field; the HTTP layers map what it misses to 400 with this.
func DatabaseRefusedInput(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "23514")
}
