package openapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const payment = `{"id":"51c9bea1-c312-44ad-9f41-37064a7261a4","currency":"LTC","status":"UNPAID","amount":0.5,
"amount_received":0,"amount_recieved":0,"amount_confirmed":0,"amount_due":0.5,"overpaid":false,"paid_late":false,"settled":false,
"payment_address":"rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n","payment_uri":"litecoin:rltc1q?amount=0.5","account":"",
"confirmations_required":6,"transactions":[],"created_at":"2026-11-22T18:40:48.360798Z","updated_at":"2026-11-22T18:40:48.360798Z",
"expires_at":null,"order_id":null,"metadata":{},"redirect_url":null}`

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// TestValidate checks that the validator passes answers the API gives and
// catches the drift it exists for.
func TestValidate(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		wantErr            string // "" = valid
	}{
		{"a payment", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader,
			`{"success":true,"payment":` + payment + `}`, ""},
		{"a payment with a field the document lacks", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader,
			`{"success":true,"payment":` + strings.Replace(payment, `"account":""`, `"account":"","colour":"red"`, 1) + `}`, "colour"},
		{"a payment without a field", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader,
			`{"success":true,"payment":` + strings.Replace(payment, `"overpaid":false,`, ``, 1) + `}`, "overpaid"},
		{"a string amount", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader,
			`{"success":true,"payment":` + strings.Replace(payment, `"amount":0.5`, `"amount":"0.5"`, 1) + `}`, "amount"},
		{"an unknown status", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader,
			`{"success":true,"payment":` + strings.Replace(payment, `"UNPAID"`, `"DONE"`, 1) + `}`, "status"},
		{"an undocumented status", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 418, jsonHeader,
			`{"success":false,"error":{"code":"teapot","message":"x"}}`, "status 418 is not documented"},
		{"a documented error", "POST", "/payments", 401, http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {"Bearer"}},
			`{"success":false,"error":{"code":"unauthorized","message":"send a key"}}`, ""},
		{"an error code the status does not have", "POST", "/payments", 400, jsonHeader,
			`{"success":false,"error":{"code":"made_up","message":"x"}}`, "code"},
		{"an error without a message", "POST", "/payments", 400, jsonHeader,
			`{"success":false,"error":{"code":"malformed_json","message":""}}`, "message"},
		{"a required header missing", "POST", "/payments", 401, jsonHeader,
			`{"success":false,"error":{"code":"unauthorized","message":"x"}}`, "WWW-Authenticate"},
		{"an unknown route answered 404", "GET", "/nope", 404, jsonHeader,
			`{"success":false,"error":{"code":"not_found","message":"no such route"}}`, ""},
		{"an undescribed route that answers", "GET", "/invoices", 200, jsonHeader, `{"data":[]}`, "not described in openapi/openapi.yaml"},
		{"an unknown route with another body", "GET", "/nope", 404, http.Header{"Content-Type": {"text/plain"}}, `404 page not found`, "not the API's JSON error"},
		{"an undescribed method answered 405", "DELETE", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 405, jsonHeader,
			`{"success":false,"error":{"code":"method_not_allowed","message":"no"}}`, ""},
		{"an undescribed method that answers", "DELETE", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 204, nil, ``, "method is not described"},
		{"a PNG", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/qrcode.png", 200,
			http.Header{"Content-Type": {"image/png"}, "Etag": {`"x"`}, "Cache-Control": {"immutable"}}, "\x89PNG\r\n\x1a\nrest", ""},
		{"not a PNG", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/qrcode.png", 200,
			http.Header{"Content-Type": {"image/png"}, "Etag": {`"x"`}, "Cache-Control": {"immutable"}}, "GIF89a", "not a PNG"},
		{"a 304 without its header", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/qrcode.png", 304, http.Header{}, "", ""},
		{"the wrong content type", "GET", "/healthz", 200, http.Header{"Content-Type": {"text/html"}}, `<p>ok</p>`, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://127.0.0.1:1"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(req, tt.status, tt.header, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("valid answer refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("invalid answer passed, want an error about %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// TestTransport checks the RoundTripper form against a real server: the
// body is handed on unchanged, a valid answer passes and an invalid one is
// reported to the test.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, `{"status":"ok"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"fine"}`) // not a route of the document
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	client := &http.Client{Transport: &Transport{TB: rec}}
	for path, wantErrors := range map[string]int{"/healthz": 0, "/other": 1} {
		rec.errors = nil
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"status"`) {
			t.Errorf("%s: body %q not handed on", path, body)
		}
		if len(rec.errors) != wantErrors {
			t.Errorf("%s: %d errors reported (%v), want %d", path, len(rec.errors), rec.errors, wantErrors)
		}
	}
}

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}
