package apiwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/transient-gateway/transient/internal/payments"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Encode returns v as the API writes it: JSON followed by a newline.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// InternalErrorBody is the answer when an answer cannot be encoded.
const InternalErrorBody = `{"success":false,"error":{"code":"internal_error","message":"internal error"}}`

// Decode reads one JSON object from r into dst: fields known and of the
// right type, nothing after the object, at most MaxBodyBytes (when r is an
// http.MaxBytesReader, or the caller checked). The body must be UTF-8, as
// JSON is, without unpaired surrogate escapes: encoding/json would
// otherwise turn each invalid byte or lone surrogate into U+FFFD, so that
// what is kept is not what was sent. Every failure is an *Error
// with a message naming the problem.
func Decode(r io.Reader, dst any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge()
		}
		return BadRequest("malformed_json", "", "the body could not be read: "+err.Error())
	}
	if !utf8.Valid(body) {
		return unstorable(body, func(b []byte) bool { return !utf8.Valid(b) }, "must be valid UTF-8")
	}
	if payments.LoneSurrogate(body) {
		return unstorable(body, payments.LoneSurrogate, `must not hold an unpaired surrogate escape such as "\ud800"`)
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		return BadRequest("malformed_json", "", "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return BadRequest("malformed_json", "", "the body must hold exactly one JSON object")
	}
	return nil
}

// unstorable refuses a body holding text that would not be kept as sent
// (bad reports it), naming the member whose value holds it when there is
// one.
func unstorable(body []byte, bad func([]byte) bool, what string) *Error {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) == nil {
		for name, value := range members {
			if !bad([]byte(name)) && bad(value) {
				return BadRequest("invalid_field", name, name+" "+what)
			}
		}
	}
	return BadRequest("malformed_json", "", "the body "+what)
}

// DecodeBytes is Decode for a whole body: a body over MaxBodyBytes is
// refused as Decode refuses one over the limit.
func DecodeBytes(body []byte, dst any) error {
	if len(body) > MaxBodyBytes {
		return tooLarge()
	}
	return Decode(bytes.NewReader(body), dst)
}

func tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the body must be at most %d bytes", MaxBodyBytes)}
}

func decodeError(err error) *Error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return tooLarge()
	case errors.As(err, &syntax):
		return BadRequest("malformed_json", "", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return BadRequest("malformed_json", "", "the body is empty or ends before the JSON object does")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("malformed_json", "", "the body must be a JSON object")
		}
		return BadRequest("invalid_field", field, fmt.Sprintf("%s must be %s, not a JSON %s", field, describeType(typ.Type.String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadRequest("unknown_field", field, fmt.Sprintf("unknown field %q", field))
	default:
		return BadRequest("malformed_json", "", "malformed JSON: "+err.Error())
	}
}

func describeType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint32":
		return "an integer"
	case "bool":
		return "true or false"
	default:
		if strings.HasPrefix(goType, "map[") {
			return "a JSON object"
		}
		return "of type " + goType
	}
}
