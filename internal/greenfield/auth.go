package greenfield

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
)

// BTCPay's store permission names. A key holds some of them for its one
// store; some imply others (see Implies).
const (
	PermModifyStoreSettings           = "btcpay.store.canmodifystoresettings"
	PermViewStoreSettings             = "btcpay.store.canviewstoresettings"
	PermModifyInvoices                = "btcpay.store.canmodifyinvoices"
	PermViewInvoices                  = "btcpay.store.canviewinvoices"
	PermCreateInvoice                 = "btcpay.store.cancreateinvoice"
	PermModifyWebhooks                = "btcpay.store.webhooks.canmodifywebhooks"
	PermModifyPaymentRequests         = "btcpay.store.canmodifypaymentrequests"
	PermViewPaymentRequests           = "btcpay.store.canviewpaymentrequests"
	PermViewReports                   = "btcpay.store.canviewreports"
	PermManagePullPayments            = "btcpay.store.canmanagepullpayments"
	PermCreatePullPayments            = "btcpay.store.cancreatepullpayments"
	PermCreateNonApprovedPullPayments = "btcpay.store.cancreatenonapprovedpullpayments"
	PermViewPullPayments              = "btcpay.store.canviewpullpayments"
	PermArchivePullPayments           = "btcpay.store.canarchivepullpayments"
	PermManagePayouts                 = "btcpay.store.canmanagepayouts"
	PermViewPayouts                   = "btcpay.store.canviewpayouts"
	PermUseLightningNode              = "btcpay.store.canuselightningnode"
	PermViewLightningInvoice          = "btcpay.store.canviewlightninginvoice"
	PermCreateLightningInvoice        = "btcpay.store.cancreatelightninginvoice"
	PermViewOfferings                 = "btcpay.store.canviewofferings"
	PermModifyOfferings               = "btcpay.store.canmodifyofferings"
)

// implied lists, for each permission, the permissions it grants directly
// besides itself (BTCPay's policy tree, store part).
var implied = map[string][]string{
	PermModifyStoreSettings: {PermManagePullPayments, PermModifyInvoices, PermViewStoreSettings, PermModifyWebhooks,
		PermModifyPaymentRequests, PermManagePayouts, PermModifyOfferings, PermUseLightningNode},
	PermManagePullPayments:            {PermCreatePullPayments, PermArchivePullPayments},
	PermCreatePullPayments:            {PermCreateNonApprovedPullPayments},
	PermCreateNonApprovedPullPayments: {PermViewPullPayments},
	PermModifyPaymentRequests:         {PermViewPaymentRequests},
	PermModifyOfferings:               {PermViewOfferings},
	PermUseLightningNode:              {PermViewLightningInvoice, PermCreateLightningInvoice},
	PermModifyInvoices:                {PermViewInvoices, PermCreateInvoice, PermCreateLightningInvoice},
	PermViewStoreSettings:             {PermViewInvoices, PermViewPaymentRequests, PermViewReports, PermViewPullPayments, PermViewPayouts},
	PermManagePayouts:                 {PermViewPayouts},
	PermViewInvoices:                  nil,
	PermCreateInvoice:                 nil,
	PermModifyWebhooks:                nil,
	PermViewReports:                   nil,
	PermViewPaymentRequests:           nil,
	PermViewPullPayments:              nil,
	PermArchivePullPayments:           nil,
	PermViewPayouts:                   nil,
	PermViewLightningInvoice:          nil,
	PermCreateLightningInvoice:        nil,
	PermViewOfferings:                 nil,
}

// ValidPermission reports whether p is one of BTCPay's store permission
// names (lower case, as BTCPay stores them).
func ValidPermission(p string) bool {
	_, ok := implied[p]
	return ok
}

// Permissions lists every store permission name, sorted.
func Permissions() []string {
	out := make([]string, 0, len(implied))
	for p := range implied {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Implies reports whether holding permission has grants want.
func Implies(has, want string) bool {
	if has == want {
		return true
	}
	for _, sub := range implied[has] {
		if Implies(sub, want) {
			return true
		}
	}
	return false
}

// APIKey is an authenticated Greenfield key: its store and permissions.
type APIKey struct {
	ID          string
	StoreID     string
	Label       string
	Permissions []string
}

// Grants reports whether the key holds perm (directly or implied) for
// store storeID.
func (k *APIKey) Grants(perm, storeID string) bool {
	if k == nil || k.StoreID != storeID {
		return false
	}
	for _, p := range k.Permissions {
		if Implies(p, perm) {
			return true
		}
	}
	return false
}

// Scoped returns the key's permissions as BTCPay's api-keys/current writes
// them: "permission:storeId", in the order they were granted.
func (k *APIKey) Scoped() []string {
	out := make([]string, len(k.Permissions))
	for i, p := range k.Permissions {
		out[i] = p + ":" + k.StoreID
	}
	return out
}

type ctxKey int

const (
	keyCtx ctxKey = iota
	storeCtx
)

// KeyFrom returns the key that authenticated the request (nil outside the
// authenticated routes).
func KeyFrom(ctx context.Context) *APIKey {
	k, _ := ctx.Value(keyCtx).(*APIKey)
	return k
}

// StoreFrom returns the store named by the request's {storeId}, loaded by
// Require (nil outside routes that use it).
func StoreFrom(ctx context.Context) *Store {
	st, _ := ctx.Value(storeCtx).(*Store)
	return st
}

// authenticate checks "Authorization: token <key>" and puts the key in the
// request's context (KeyFrom). A missing or unknown key is answered 401
// unauthenticated; an address with too many failed attempts gets 429.
func (s *Service) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		source := s.cfg.Sources.Key(r)
		if blocked, wait := s.cfg.AuthFailures.Blocked(source); blocked {
			s.WriteError(w, r, tooMany(wait))
			return
		}
		token := presentedKey(r)
		if token == "" {
			s.WriteError(w, r, Fail(http.StatusUnauthorized, CodeUnauthenticated,
				"authentication is required: send the header \"Authorization: token <API key>\""))
			return
		}
		key, err := s.stores.CheckKey(r.Context(), token)
		if err != nil {
			s.WriteError(w, r, err)
			return
		}
		if key == nil {
			s.cfg.AuthFailures.Take(source)
			s.WriteError(w, r, Fail(http.StatusUnauthorized, CodeUnauthenticated, "the API key is unknown or revoked"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx, key)))
	})
}

// presentedKey returns the key of "Authorization: token <key>", or "".
func presentedKey(r *http.Request) string {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "token") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Require returns middleware for the routes under /stores/{storeId}: the
// key must hold perm for the store (403 missing-permission), and the store
// must exist (404 store-not-found); the store is then in the request's
// context (StoreFrom).
func (s *Service) Require(perm string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			storeID := chi.URLParam(r, "storeId")
			if err := CheckPermission(r, perm, storeID); err != nil {
				s.WriteError(w, r, err)
				return
			}
			st, err := s.stores.Get(r.Context(), storeID)
			if err != nil {
				s.WriteError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), storeCtx, st)))
		})
	}
}

// CheckPermission returns nil when the request's key holds perm for store
// storeID, and a 403 missing-permission error otherwise.
func CheckPermission(r *http.Request, perm, storeID string) error {
	if KeyFrom(r.Context()).Grants(perm, storeID) {
		return nil
	}
	return Fail(http.StatusForbidden, CodeMissingPermission, "the API key lacks the permission %s for this store", perm)
}
