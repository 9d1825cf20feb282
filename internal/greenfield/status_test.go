package greenfield

import (
	"errors"
	"testing"

	"github.com/transient-gateway/transient/internal/payments"
)

func TestInvoiceStatus(t *testing.T) {
	for _, tt := range []struct {
		name             string
		p                payments.Payment
		marked           string
		status, addition string
	}{
		{"unpaid", payments.Payment{Status: payments.StatusUnpaid}, "", StatusNew, AdditionalNone},
		{"partial", payments.Payment{Status: payments.StatusPartial, Received: 5}, "", StatusNew, AdditionalPaidPartial},
		{"pending", payments.Payment{Status: payments.StatusPending, Received: 10}, "", StatusProcessing, AdditionalNone},
		{"pending overpaid", payments.Payment{Status: payments.StatusPending, Overpaid: true}, "", StatusProcessing, AdditionalPaidOver},
		{"paid", payments.Payment{Status: payments.StatusPaid}, "", StatusSettled, AdditionalNone},
		{"paid settled", payments.Payment{Status: payments.StatusPaid, Settled: true}, "", StatusSettled, AdditionalNone},
		{"paid overpaid", payments.Payment{Status: payments.StatusPaid, Overpaid: true}, "", StatusSettled, AdditionalPaidOver},
		{"expired", payments.Payment{Status: payments.StatusExpired}, "", StatusExpired, AdditionalNone},
		{"expired partial", payments.Payment{Status: payments.StatusExpired, Received: 3}, "", StatusExpired, AdditionalPaidPartial},
		{"expired paid late", payments.Payment{Status: payments.StatusExpired, Received: 10, PaidLate: true}, "", StatusExpired, AdditionalPaidLate},
		{"invalid", payments.Payment{Status: payments.StatusInvalid}, "", StatusInvalid, AdditionalNone},
		{"marked settled", payments.Payment{Status: payments.StatusExpired}, StatusSettled, StatusSettled, AdditionalMarked},
		{"marked invalid", payments.Payment{Status: payments.StatusPaid}, StatusInvalid, StatusInvalid, AdditionalMarked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, add := InvoiceStatus(&tt.p, tt.marked)
			if st != tt.status || add != tt.addition {
				t.Errorf("got %s/%s, want %s/%s", st, add, tt.status, tt.addition)
			}
		})
	}
	// Every status the mapping yields is one the list filter can select.
	for _, st := range []string{StatusNew, StatusProcessing, StatusSettled, StatusExpired, StatusInvalid} {
		if statusSQL[st] == "" {
			t.Errorf("no list filter for %s", st)
		}
	}
}

func TestParsePaymentMethod(t *testing.T) {
	for in, want := range map[string]string{"LTC-CHAIN": "LTC", "LTC_CHAIN": "LTC", "ltc": "LTC", "DOGE-OnChain": "DOGE",
		"BTC_OnChain": "BTC", "BTC": "BTC"} {
		if got, ok := ParsePaymentMethod(in); !ok || got != want {
			t.Errorf("ParsePaymentMethod(%q) = %q, %t; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "BTC-LN", "BTC_LightningLike", "BTC-LNURL", "-CHAIN", "a\x00b", "TOOLONGCOIN1"} {
		if got, ok := ParsePaymentMethod(in); ok {
			t.Errorf("ParsePaymentMethod(%q) = %q, want refused", in, got)
		}
	}
}

func TestPermissions(t *testing.T) {
	k := &APIKey{StoreID: "S", Permissions: []string{PermModifyStoreSettings}}
	for _, p := range []string{PermViewInvoices, PermCreateInvoice, PermModifyInvoices, PermModifyWebhooks, PermViewStoreSettings} {
		if !k.Grants(p, "S") {
			t.Errorf("canmodifystoresettings does not grant %s", p)
		}
		if k.Grants(p, "T") {
			t.Errorf("a key of store S grants %s on store T", p)
		}
	}
	view := &APIKey{StoreID: "S", Permissions: []string{PermViewStoreSettings}}
	if !view.Grants(PermViewInvoices, "S") || view.Grants(PermCreateInvoice, "S") || view.Grants(PermModifyWebhooks, "S") {
		t.Error("canviewstoresettings grants the wrong permissions")
	}
	inv := &APIKey{StoreID: "S", Permissions: []string{PermModifyInvoices}}
	if !inv.Grants(PermCreateInvoice, "S") || !inv.Grants(PermViewInvoices, "S") || inv.Grants(PermViewStoreSettings, "S") {
		t.Error("canmodifyinvoices grants the wrong permissions")
	}
	if (*APIKey)(nil).Grants(PermViewInvoices, "S") {
		t.Error("no key grants a permission")
	}
	for _, p := range Permissions() {
		if !ValidPermission(p) || !Implies(p, p) {
			t.Errorf("permission %s", p)
		}
	}
	if ValidPermission("btcpay.server.canmodifyserversettings") || ValidPermission("unrestricted") {
		t.Error("a server permission is accepted for a store key")
	}
}

// TestPickCoin checks the one coin an invoice is paid in: the store's most
// preferred of the methods asked (the WooCommerce plugin's single gateway
// asks for all of them), else the currency when it is a coin, else the
// store's first.
func TestPickCoin(t *testing.T) {
	pay := payments.NewService(nil, payments.Config{Coins: []payments.Coin{{Code: "BTC"}, {Code: "DOGE"}, {Code: "LTC"}}})
	s := New(Config{Payments: pay})
	all := &Store{}
	ltcFirst := &Store{Coins: []string{"LTC", "BTC"}}
	for _, tt := range []struct {
		name     string
		st       *Store
		methods  []string
		currency string
		want     string
	}{
		{"every method, store takes all", all, []string{"BTC_CHAIN", "DOGE_CHAIN", "LTC_CHAIN"}, "USD", "DOGE"},
		{"every method, store prefers LTC", ltcFirst, []string{"BTC_CHAIN", "DOGE_CHAIN", "LTC_CHAIN"}, "USD", "LTC"},
		{"one method", all, []string{"LTC_CHAIN"}, "USD", "LTC"},
		{"one method, bare code", ltcFirst, []string{"btc"}, "USD", "BTC"},
		{"lightning ignored", all, []string{"BTC-LN", "LTC-CHAIN"}, "USD", "LTC"},
		{"no methods, coin currency", ltcFirst, nil, "BTC", "BTC"},
		{"no methods, fiat", all, nil, "EUR", "DOGE"},
		{"no methods, fiat, LTC first", ltcFirst, nil, "EUR", "LTC"},
		{"no methods, coin the store does not take", ltcFirst, nil, "DOGE", "LTC"},
		{"method the store does not take", ltcFirst, []string{"DOGE_CHAIN"}, "USD", ""},
		{"empty list", all, []string{}, "USD", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.pickCoin(tt.st, InvoiceRequest{Checkout: CheckoutRequest{PaymentMethods: tt.methods}}, tt.currency)
			if tt.want == "" {
				var v ValidationError
				if !errors.As(err, &v) || v[0].Path != "checkout.paymentMethods" {
					t.Errorf("got %q, %v; want a refusal of checkout.paymentMethods", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}
