package greenfield

import (
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
