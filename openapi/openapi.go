// Package openapi holds the OpenAPI 3.1 description of Transient's HTTP API,
// openapi.yaml, embedded in the binary and served at GET /openapi.yaml.
//
// The integration tests of internal/api and e2e validate every response
// they receive against it (package openapitest), and a test walks the
// router to check that every route is described and every described route
// exists, so the document cannot drift from the code.
package openapi

import _ "embed"

// YAML is the document.
//
//go:embed openapi.yaml
var YAML []byte

// MediaType is the media type the document is served with (RFC 9512).
const MediaType = "application/yaml"
