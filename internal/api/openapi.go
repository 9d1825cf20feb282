package api

import (
	"net/http"
	"strconv"

	"github.com/transient-gateway/transient/openapi"
)

// serveOpenAPI answers GET /openapi.yaml with the API's description, the
// document the integration tests validate every response against.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", openapi.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(openapi.YAML)))
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openapi.YAML)
	return nil
}
