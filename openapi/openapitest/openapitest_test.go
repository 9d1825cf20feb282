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

// invoice is a BitPay invoice as internal/bitpay writes it.
const invoice = `{"id":"51c9bea1-c312-44ad-9f41-37064a7261a4","url":"http://pay.example/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout",
"status":"paid","exceptionStatus":false,"price":12.5,"currency":"USD","orderId":"order-1","posData":"{\"cart\": 7}",
"invoiceTime":1790000000000,"expirationTime":1790000900000,"currentTime":1790000010000,
"btcPrice":"0.16639378","btcDue":"0","btcPaid":"0.16639378","rate":75.123,"addresses":{"LTC":"rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n"},
"paymentUrls":{"BIP21":"litecoin:rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n?amount=0.16639378"},
"cryptoInfo":[{"cryptoCode":"LTC","paymentType":"BTCLike","rate":75.123,"exRates":{"USD":75.123},"price":"0.16639378",
"due":"0","paid":"0.16639378","totalDue":"0.16639378","networkFee":"0","txCount":1,"cryptoPaid":"0.16639378",
"address":"rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n","url":"http://pay.example/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout",
"paymentUrls":{"BIP21":"litecoin:rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n?amount=0.16639378"},
"payments":[{"id":"7d1c0e2a5b8f4c3d9e6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60-1","receivedDate":"2026-09-21T14:13:30Z",
"value":"0.16639378","fee":"0","confirmations":0,"confirmed":false,"completed":false,
"destination":"rltc1qqa7lveq66z6tagdsucmheplkdsvksax9zckj3n","paymentType":"BTCLike"}]}],
"amountPaid":16639378,"paymentSubtotals":{"LTC":16639378},"paymentTotals":{"LTC":16639378},
"exchangeRates":{"LTC":{"USD":75.123}},"transactionCurrency":"LTC","transactionSpeed":"medium",
"redirectURL":"https://shop.example/thanks","token":"7Xq9Lm2Np4Rs6Tu8Vw1Yz3"}`

var (
	bitpayHeader = http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	bitpayError  = `{"error":"unknown token","errors":[{"error":"unknown token"}]}`
	pageHeader   = http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Cache-Control": {"no-store"},
		"Content-Security-Policy": {"default-src 'none'; img-src 'self'"}, "X-Content-Type-Options": {"nosniff"},
		"Referrer-Policy": {"no-referrer"}}
	streamHeader = http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}, "Cache-Control": {"no-store"},
		"X-Accel-Buffering": {"no"}, "X-Content-Type-Options": {"nosniff"}}
)

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
		{"an undescribed route that answers", "GET", "/nope", 200, jsonHeader, `{"status":"ok"}`, "not described in openapi/openapi.yaml"},

		// The BitPay API: its {"data": ...} envelope and its own error shape,
		// with and without the trailing slash.
		{"a BitPay invoice", "GET", "/invoices/51c9bea1-c312-44ad-9f41-37064a7261a4?token=x", 200, bitpayHeader,
			`{"data":` + invoice + `}`, ""},
		{"a BitPay invoice created at the slash form", "POST", "/invoices/", 200, bitpayHeader, `{"data":` + invoice + `}`, ""},
		{"a BitPay invoice list", "GET", "/invoices?status=paid&token=x", 200, bitpayHeader, `{"data":[` + invoice + `]}`, ""},
		{"a BitPay invoice with an amount as a number", "GET", "/invoices/x", 200, bitpayHeader,
			`{"data":` + strings.Replace(invoice, `"btcDue":"0"`, `"btcDue":0`, 1) + `}`, "btcDue"},
		{"a BitPay invoice without a field", "GET", "/invoices/x", 200, bitpayHeader,
			`{"data":` + strings.Replace(invoice, `"amountPaid":16639378,`, ``, 1) + `}`, "amountPaid"},
		{"a BitPay invoice with exceptionStatus true", "GET", "/invoices/x", 200, bitpayHeader,
			`{"data":` + strings.Replace(invoice, `"exceptionStatus":false`, `"exceptionStatus":true`, 1) + `}`, "exceptionStatus"},
		{"a BitPay invoice outside its envelope", "GET", "/invoices/x", 200, bitpayHeader, invoice, "data"},
		{"a BitPay error", "POST", "/invoices", 401, bitpayHeader, bitpayError, ""},
		{"the API's error shape on a BitPay route", "POST", "/invoices", 401, jsonHeader,
			`{"success":false,"error":{"code":"unauthorized","message":"x"}}`, "error"},
		{"a BitPay error on an undescribed route", "GET", "/invoices/x/y", 404, bitpayHeader, bitpayError, "NotFound"},
		{"a BitPay status not documented for the route", "GET", "/invoices/x", 409, bitpayHeader, bitpayError, "status 409 is not documented"},
		{"GET /tokens refused", "GET", "/tokens/", 405, http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Allow": {"POST"}}, bitpayError, ""},
		{"GET /tokens refused without Allow", "GET", "/tokens", 405, bitpayHeader, bitpayError, "Allow"},
		{"a pairing", "POST", "/tokens", 200, bitpayHeader, `{"data":[{"policies":[],"token":"4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi",
"facade":"merchant","label":"shop1","dateCreated":1790000000000,"pairingExpiration":1790000900000,"pairingCode":"F3kq8Zr"}]}`, ""},
		{"a rate", "GET", "/rates/ltc/usd/", 200, bitpayHeader, `{"data":{"code":"USD","name":"US Dollar","rate":75.123,"cryptoCode":"LTC","currencyPair":"LTC_USD"}}`, ""},
		{"rates", "GET", "/rates/?cryptoCode=LTC", 200, bitpayHeader, `{"data":[{"code":"EUR","name":"Euro","rate":70,"cryptoCode":"LTC","currencyPair":"LTC_EUR"}]}`, ""},
		{"a rate as a string", "GET", "/rates/LTC", 200, bitpayHeader, `{"data":[{"code":"EUR","name":"Euro","rate":"70","cryptoCode":"LTC","currencyPair":"LTC_EUR"}]}`, "rate"},

		// The checkout page (HTML) and its event stream.
		{"a checkout page", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 200, pageHeader, "<!doctype html>\n<html>", ""},
		{"a checkout error page", "GET", "/payments/nope/checkout", 400, pageHeader, "<!doctype html>\n<html>", ""},
		{"a checkout page without its headers", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 404,
			http.Header{"Content-Type": {"text/html; charset=utf-8"}}, "<!doctype html>", "Cache-Control"},
		{"a checkout page answering JSON", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 404,
			with(pageHeader, "Content-Type", "application/json"), `{"success":false,"error":{"code":"not_found","message":"x"}}`, "Content-Type"},
		{"a checkout page that may be cached", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 200,
			with(pageHeader, "Cache-Control", "max-age=60"), "<!doctype html>", "Cache-Control"},
		{"a checkout page that is not HTML", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 200, pageHeader, "hello", "doctype"},
		{"a stream", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/stream", 200, streamHeader, "", ""},
		{"a stream refused", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/stream", 503,
			http.Header{"Content-Type": {"application/json"}, "Retry-After": {"5"}}, `{"success":false,"error":{"code":"shutting_down","message":"x"}}`, ""},
		{"a stream where JSON is documented", "GET", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, streamHeader, "", "content type"},
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

// TestValidateHead checks the validation of an answer without its body.
func TestValidateHead(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		status     int
		header     http.Header
		wantErr    string
	}{
		{"a payment", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, jsonHeader, ""},
		{"a page", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 404, pageHeader, ""},
		{"a page as JSON", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 200, with(pageHeader, "Content-Type", "application/json"), "content type"},
		{"a payment as HTML", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4", 200, pageHeader, "content type"},
		{"an unknown route answered 404", "/favicon.ico", 404, jsonHeader, ""},
		{"an unknown route answered 404 in HTML", "/favicon.ico", 404, pageHeader, "not the API's JSON error"},
		{"an undescribed route that answers", "/favicon.ico", 200, jsonHeader, "not described"},
		{"an undocumented status", "/payments/51c9bea1-c312-44ad-9f41-37064a7261a4/checkout", 418, pageHeader, "not documented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://127.0.0.1:1"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateHead(req, tc.status, tc.header)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid answer refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("invalid answer passed, want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

// with returns a copy of h with key set to value.
func with(h http.Header, key, value string) http.Header {
	h = h.Clone()
	h.Set(key, value)
	return h
}

// TestValidateSchema checks the validation of what OpenAPI cannot type,
// such as the messages of an event stream.
func TestValidateSchema(t *testing.T) {
	for _, tc := range []struct{ name, schema, data, wantErr string }{
		{"a payment", "Payment", payment, ""},
		{"a payment with a string amount", "Payment", strings.Replace(payment, `"amount":0.5`, `"amount":"0.5"`, 1), "amount"},
		{"a plain IPN", "BitPayIPN", invoice, ""},
		{"an extended IPN", "BitPayIPN", `{"event":{"code":1003,"name":"invoice_paidInFull"},"data":` + invoice + `}`, ""},
		{"an extended IPN on creation", "BitPayIPN", `{"event":{"code":1001,"name":"invoice_created"},"data":` + invoice + `}`, ""},
		{"an IPN with an unknown event", "BitPayIPN", `{"event":{"code":1012,"name":"invoice_manuallyNotified"},"data":` + invoice + `}`, "BitPayIPN"},
		{"not JSON", "Payment", "{", "not JSON"},
		{"an unknown schema", "Nope", "{}", "lacks components/schemas/Nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSchema(tc.schema, []byte(tc.data))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid data refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("invalid data passed, want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v, want it to mention %q", err, tc.wantErr)
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
