package api

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/transient-gateway/transient/internal/apiwire"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = apiwire.MaxBodyBytes

// writeJSON encodes v into a buffer first, so an encoding failure can still
// be answered with a 500 instead of a half-written body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := apiwire.Encode(v)
	if err != nil {
		http.Error(w, apiwire.InternalErrorBody, http.StatusInternalServerError)
		return
	}
	writeBody(w, status, body)
}

// writeBody answers status with body, JSON already encoded.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
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
	return apiwire.Decode(r.Body, dst)
}
