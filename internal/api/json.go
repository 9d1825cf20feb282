package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// writeJSON encodes v into a buffer first, so an encoding failure can still
// be answered with a 500 instead of a half-written body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, `{"success":false,"error":{"code":"internal_error","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeJSON reads a JSON object from the request into dst: the content type
// must be JSON, the body at most maxBodyBytes, fields known and of the right
// type, and nothing may follow the object. Every failure is an *Error with a
// message naming the problem.
func decodeJSON(r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "send the body as JSON with Content-Type: application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err)
		}
		return badRequest("malformed_json", "", "the body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error) *Error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the body must be at most %d bytes", maxBodyBytes)}
	case errors.As(err, &syntax):
		return badRequest("malformed_json", "", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed_json", "", "the body is empty or ends before the JSON object does")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("malformed_json", "", "the body must be a JSON object")
		}
		return badRequest("invalid_field", field, fmt.Sprintf("%s must be %s, not a JSON %s", field, describeType(typ.Type.String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("unknown_field", field, fmt.Sprintf("unknown field %q", field))
	default:
		return badRequest("malformed_json", "", "malformed JSON: "+err.Error())
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
