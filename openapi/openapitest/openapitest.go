// Package openapitest checks, in tests, that HTTP responses match
// Transient's OpenAPI document (openapi/openapi.yaml): the route must be
// described, the status documented for it, the headers and the body valid
// against their schemas. The request helpers of the integration tests
// (internal/api, e2e) call Check on every response they receive, so the
// document cannot drift from the code.
//
// A request to a route the document does not describe passes only when it
// was answered 404 (or 405 for a described path with another method) with
// the API's error shape: the answer a route that does not exist gives. A
// route that exists in the code but not in the document therefore fails
// every test that calls it: describe it in openapi.yaml. This holds for
// the parts mounted beside the API too (the BitPay API, whose errors have
// another shape, and the checkout page, which answers HTML).
//
// It uses github.com/getkin/kin-openapi, which loads OpenAPI 3.1 documents
// and validates their schemas as JSON Schema 2020-12 (type arrays, const,
// numeric exclusiveMinimum, keywords beside $ref). It is meant for tests
// only; the daemon never imports it.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/transient-gateway/transient/openapi"
)

// EventStream is the media type whose bodies are never read whole: only
// the route, status, headers and content type of a stream are checked (its
// messages can be checked with CheckSchema).
const EventStream = "text/event-stream"

var (
	loadOnce sync.Once
	doc      *openapi3.T
	router   routers.Router
	loadErr  error
)

// Document returns the loaded and validated document.
func Document() (*openapi3.T, error) {
	loadOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("image/png", pngDecoder)
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		loader := openapi3.NewLoader()
		d, err := loader.LoadFromData(openapi.YAML)
		if err != nil {
			loadErr = fmt.Errorf("openapitest: load openapi.yaml: %w", err)
			return
		}
		if err := d.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("openapitest: openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		if !d.IsOpenAPI31OrLater() {
			loadErr = errors.New("openapitest: openapi.yaml must be OpenAPI 3.1")
			return
		}
		r, err := gorillamux.NewRouter(d)
		if err != nil {
			loadErr = fmt.Errorf("openapitest: route openapi.yaml: %w", err)
			return
		}
		doc, router = d, r
	})
	return doc, loadErr
}

// pngDecoder accepts a PNG body (checking its signature) and hands the
// schema a placeholder string.
func pngDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, errors.New("the body is not a PNG image")
	}
	return "png", nil
}

// Check fails tb (with Errorf, so the test's own checks still run) unless
// the response to req, with status, header and body, matches the document.
// req is the request as sent (its method, URL path and query are read);
// body may be nil for a text/event-stream answer.
func Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if err := Validate(req, status, header, body); err != nil {
		tb.Errorf("openapi: %s %s answered %d: %v", req.Method, req.URL.Path, status, err)
	}
}

// Validate is Check returning the error.
func Validate(req *http.Request, status int, header http.Header, body []byte) error {
	return validate(req, status, header, body, mediaType(header) == EventStream)
}

// ValidateHead is Validate for an answer whose body is not at hand (such as
// one a browser received): it checks the route, the status, the headers and
// the content type, not the body.
func ValidateHead(req *http.Request, status int, header http.Header) error {
	return validate(req, status, header, nil, true)
}

// validate checks an answer, its body unless noBody.
func validate(req *http.Request, status int, header http.Header, body []byte, noBody bool) error {
	if _, err := Document(); err != nil {
		return err
	}
	// Match on method, path and query only: the document names no server.
	probe := req.Clone(context.Background())
	probe.Body, probe.GetBody = nil, nil
	route, params, err := router.FindRoute(probe)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return unmatched(status, header, body, noBody, http.StatusNotFound, "NotFound",
			"the route is not described in openapi/openapi.yaml; describe it there")
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return unmatched(status, header, body, noBody, http.StatusMethodNotAllowed, "MethodNotAllowed",
			"the method is not described for this path in openapi/openapi.yaml; describe it there")
	case err != nil:
		return fmt.Errorf("finding the route: %w", err)
	}
	documented := route.Operation.Responses.Status(status)
	if documented == nil {
		return fmt.Errorf("status %d is not documented for %s %s", status, route.Method, route.Path)
	}
	if noBody && documented.Value != nil && len(documented.Value.Content) > 0 &&
		documented.Value.Content.Get(header.Get("Content-Type")) == nil {
		// The validator skips the content type with the body; check it here.
		return fmt.Errorf("content type %q is not documented for %s %s %d", header.Get("Content-Type"), route.Method, route.Path, status)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: probe, PathParams: params, Route: route,
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   noBody,
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("does not match %s %s in openapi/openapi.yaml: %w\nbody: %s", route.Method, route.Path, err, clip(body))
	}
	return nil
}

// CheckSchema fails tb (with Errorf) unless data is JSON valid against
// components/schemas/name of the document: for what a response carries
// that OpenAPI cannot type, such as the messages of an event stream.
func CheckSchema(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if err := ValidateSchema(name, data); err != nil {
		tb.Errorf("openapi: %v", err)
	}
}

// ValidateSchema is CheckSchema returning the error.
func ValidateSchema(name string, data []byte) error {
	if _, err := Document(); err != nil {
		return err
	}
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("openapi.yaml lacks components/schemas/%s", name)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("not JSON (%v), want components/schemas/%s: %s", err, name, clip(data))
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("does not match components/schemas/%s: %w\ndata: %s", name, err, clip(data))
	}
	return nil
}

// unmatched checks the answer to a request the document does not route: it
// must be status want with the error shape of components/responses/name
// (its content type only, with noBody).
func unmatched(status int, header http.Header, body []byte, noBody bool, want int, name, why string) error {
	if status != want {
		return errors.New(why)
	}
	resp := doc.Components.Responses[name]
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("openapi.yaml lacks components/responses/%s", name)
	}
	mt := resp.Value.Content.Get(header.Get("Content-Type"))
	if mt == nil {
		return fmt.Errorf("%d answered with content type %q, not the API's JSON error", status, header.Get("Content-Type"))
	}
	if noBody {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%d answered with a body that is not JSON: %s", status, clip(body))
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("%d answer does not match components/responses/%s: %w\nbody: %s", status, name, err, clip(body))
	}
	return nil
}

func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// Transport is an http.RoundTripper that checks every response it carries
// with Check: it reads the body whole (except for event streams), checks
// it and hands it on unchanged.
type Transport struct {
	TB   testing.TB
	Base http.RoundTripper // nil means http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if mediaType(resp.Header) == EventStream {
		Check(t.TB, req, resp.StatusCode, resp.Header, nil)
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	Check(t.TB, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}
