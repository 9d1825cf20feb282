package checkout

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/transient-gateway/transient/internal/payments"
)

// The page's assets, embedded in the binary: nothing is loaded from
// anywhere else.
//
//go:embed assets/page.html assets/error.html assets/checkout.css assets/checkout.js
var assets embed.FS

// jsTime is the time format of the page's data attributes: the one
// JavaScript's Date.parse reads everywhere (milliseconds, UTC).
const jsTime = "2006-01-02T15:04:05.000Z07:00"

// refreshSeconds is how often the page reloads itself when JavaScript is
// off (a meta refresh inside <noscript>), while the payment can still change.
const refreshSeconds = 10

var (
	pageCSS = mustAsset("assets/checkout.css")
	pageJS  = mustAsset("assets/checkout.js")

	// contentSecurityPolicy allows exactly the page's own inline style and
	// script (by hash), images and requests to this origin, and nothing
	// else.
	contentSecurityPolicy = "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(pageJS) +
		"; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"

	templates = template.Must(template.New("").Funcs(template.FuncMap{
		"css": func() template.CSS { return template.CSS(pageCSS) },
		"js":  func() template.JS { return template.JS(pageJS) },
	}).ParseFS(assets, "assets/page.html", "assets/error.html"))
)

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// statusWords is what the page says about a payment in one situation. The
// same table is embedded in the page for its script, so the words live in
// one place. Placeholders: {amount}, {due}, {received} (amounts in coins),
// {coin} (the code, e.g. LTC) and {network} (e.g. Litecoin).
type statusWords struct {
	// Badge is the status in one or two words.
	Badge string `json:"badge,omitempty"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
	// Due labels the amount still to send; only for UNPAID and PARTIAL.
	Due string `json:"due,omitempty"`
}

// words maps wordsKey's keys to what the page says. confirmations and
// timeup are lines of their own.
var words = map[string]statusWords{
	"UNPAID": {
		Badge: "Awaiting payment",
		Title: "Waiting for your payment",
		Text:  "Send exactly {amount} {coin} to the address below, or scan the code with your wallet app. This page updates by itself.",
		Due:   "Amount to send",
	},
	"PARTIAL": {
		Badge: "Partly paid",
		Title: "Part of the payment has arrived",
		Text:  "We received {received} {coin}. Please send the remaining {due} {coin} to the same address.",
		Due:   "Remaining amount to send",
	},
	"PENDING": {
		Badge: "Confirming",
		Title: "Payment received, confirming",
		Text:  "Your payment is on the {network} network and waiting for confirmations. This usually takes a few minutes; you can close this page.",
	},
	"PAID": {
		Badge: "Paid",
		Title: "Paid, thank you!",
		Text:  "We received {received} {coin} and the payment is confirmed.",
	},
	"PAID_OVER": {
		Badge: "Paid",
		Title: "Paid, thank you!",
		Text:  "We received {received} {coin}, more than the {amount} {coin} asked for, and the payment is confirmed. Contact the shop about the difference.",
	},
	"EXPIRED": {
		Badge: "Expired",
		Title: "This payment request has expired",
		Text:  "The time to pay ran out. Please do not send anything to this address now; go back to the shop to start again.",
	},
	"EXPIRED_PART": {
		Badge: "Expired",
		Title: "This payment request has expired",
		Text:  "The time to pay ran out after {received} of {amount} {coin} arrived. Please do not send more; contact the shop about what you sent, quoting the payment ID below.",
	},
	"EXPIRED_LATE": {
		Badge: "Expired",
		Title: "Your payment arrived too late",
		Text:  "We received {received} {coin} after the time to pay ran out. Please contact the shop, quoting the payment ID below.",
	},
	"INVALID": {
		Badge: "Not completed",
		Title: "This payment could not be completed",
		Text:  "A payment was seen but not confirmed in time; the network may have replaced or dropped it. Please contact the shop, quoting the payment ID below.",
	},
	"confirmations": {Text: "{n} of {N} confirmations"},
	"timeup":        {Text: "Time is up; checking…"},
}

// wordsKey picks the entry of words for p. The page's script has the same
// rules (checkout.js, key).
func wordsKey(p *payments.PaymentJSON) string {
	switch {
	case p.Status == payments.StatusPaid && p.Overpaid:
		return "PAID_OVER"
	case p.Status == payments.StatusExpired && p.PaidLate:
		return "EXPIRED_LATE"
	case p.Status == payments.StatusExpired && p.AmountReceived > 0:
		return "EXPIRED_PART"
	}
	return string(p.Status)
}

// networkNames are the coins' names as buyers know them.
var networkNames = map[string]string{"BTC": "Bitcoin", "LTC": "Litecoin", "DOGE": "Dogecoin"}

func networkName(code string) string {
	if n, ok := networkNames[code]; ok {
		return n
	}
	return code
}

// fill replaces the {name} placeholders of text.
func fill(text string, values map[string]string) string {
	var pairs []string
	for k, v := range values {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// pageView is what page.html renders.
type pageView struct {
	ID       string
	Coin     string
	Network  string
	Amount   string
	Due      string
	Received string
	Address  string
	OrderID  string
	Status   payments.Status
	Words    statusWords
	// WalletURI is the BIP21 link for the amount still due.
	WalletURI template.URL
	Scheme    string
	QRURL     string
	QRBase    string
	ShowPay   bool

	ShowConfirmations bool
	Confirmations     int64
	Required          int64
	ConfirmationsText string

	ExpiresAt  string // RFC 3339, "" when the payment never expires
	ShowExpiry bool
	TimeLeft   string

	ShowReturn  bool
	RedirectURL string
	// HasReturn says that the payment has a redirect URL, shown once it is
	// PAID. The URL itself is not in the page before then, nor in the
	// stream or the public JSON: the script reloads the page on PAID to
	// get it.
	HasReturn bool

	Refresh   int // seconds; 0 = no meta refresh
	Now       string
	StreamURL string
	JSONURL   string
	AllWords  map[string]statusWords
}

// schemeRE is what a BIP21 scheme may be (RFC 3986 scheme syntax); addrRE
// what an address may be. The wallet link is only marked safe when both
// hold.
var (
	schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	addrRE   = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// newPageView builds the view of p at now.
func newPageView(p *payments.Payment, now time.Time) pageView {
	j := p.JSON()
	id := j.ID
	v := pageView{
		ID:        id,
		Coin:      j.Currency,
		Network:   networkName(j.Currency),
		Amount:    j.Amount.String(),
		Due:       j.AmountDue.String(),
		Received:  j.AmountReceived.String(),
		Address:   j.PaymentAddress,
		Status:    j.Status,
		Required:  max(j.ConfirmationsRequired, 1),
		Now:       now.UTC().Format(jsTime),
		StreamURL: "/payments/" + id + "/stream",
		JSONURL:   "/payments/" + id,
		QRBase:    "/payments/" + id + "/qrcode.png",
		AllWords:  words,
	}
	if j.OrderID != nil {
		v.OrderID = *j.OrderID
	}
	v.Words = words[wordsKey(&j)]
	values := map[string]string{"amount": v.Amount, "due": v.Due, "received": v.Received, "coin": v.Coin, "network": v.Network}
	v.Words.Title = fill(v.Words.Title, values)
	v.Words.Text = fill(v.Words.Text, values)

	v.ShowPay = j.Status == payments.StatusUnpaid || j.Status == payments.StatusPartial
	v.QRURL = v.QRBase
	if j.Status == payments.StatusPartial {
		// The code of the QR route asks for the whole amount; after a
		// partial payment it shows the address alone and the page the
		// remaining amount.
		v.QRURL += "?content=address"
	}
	if scheme, _, ok := strings.Cut(j.PaymentURI, ":"); ok && schemeRE.MatchString(scheme) && addrRE.MatchString(j.PaymentAddress) {
		v.Scheme = scheme
		v.WalletURI = template.URL(payments.BIP21(scheme, j.PaymentAddress, j.AmountDue))
	}

	if j.Status == payments.StatusPending {
		v.ShowConfirmations = true
		v.Confirmations = min(confirmations(&j), v.Required)
	}
	v.ConfirmationsText = fill(words["confirmations"].Text, map[string]string{
		"n": fmt.Sprint(v.Confirmations), "N": fmt.Sprint(v.Required)})

	if j.ExpiresAt != nil {
		v.ExpiresAt = j.ExpiresAt.UTC().Format(jsTime)
		v.ShowExpiry = v.ShowPay
		if left := j.ExpiresAt.Sub(now); left > 0 {
			v.TimeLeft = formatTimeLeft(left)
		} else {
			v.TimeLeft = words["timeup"].Text
		}
	}
	if j.RedirectURL != nil {
		if u, err := url.Parse(*j.RedirectURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			v.HasReturn = true
			if j.Status == payments.StatusPaid {
				v.ShowReturn = true
				v.RedirectURL = *j.RedirectURL
			}
		}
	}
	if !j.Status.Sticky() && j.Status != payments.StatusPaid {
		v.Refresh = refreshSeconds
	}
	return v
}

// confirmations returns the confirmations of the least confirmed output
// that counts toward the payment (0 when there is none): the payment is
// PAID once enough outputs have the required number.
func confirmations(p *payments.PaymentJSON) int64 {
	n, seen := int64(0), false
	for _, t := range p.Transactions {
		if t.State == payments.OutputConflicted {
			continue
		}
		if !seen || t.Confirmations < n {
			n, seen = t.Confirmations, true
		}
	}
	return max(n, 0)
}

// formatTimeLeft prints d rounded up to the second as M:SS, or H:MM:SS from
// an hour on, as the page's script does.
func formatTimeLeft(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	h, m := s/3600, s%3600/60
	s %= 60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// renderPage renders the checkout page of p.
func renderPage(p *payments.Payment, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "page.html", newPageView(p, now)); err != nil {
		return nil, fmt.Errorf("checkout: render page: %w", err)
	}
	return buf.Bytes(), nil
}

// errorView is what error.html renders.
type errorView struct {
	Status  int
	Title   string
	Message string
}

// renderError renders the HTML error page.
func renderError(v errorView) []byte {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "error.html", v); err != nil {
		return []byte("<!doctype html><title>Error</title><p>Something went wrong.</p>")
	}
	return buf.Bytes()
}
