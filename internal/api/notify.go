package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/transient-gateway/transient/internal/payments"
)

// notifyRequest is the body the hook binaries send to /notify/tx and
// /notify/block.
type notifyRequest struct {
	Coin string `json:"coin"`
	// Hash is the txid (walletnotify %s) or the block hash (blocknotify %s).
	Hash string `json:"hash"`
	// Wallet is walletnotify's %w, when the node passes it.
	Wallet string `json:"wallet"`
}

type notifyResponse struct {
	Success bool   `json:"success"`
	Ignored string `json:"ignored,omitempty"`
}

// requireNotifyToken lets a hint through only with the NOTIFY_TOKEN. With no
// token configured the hooks are off and every hint is refused: transientd
// then finds payments by polling alone.
func (s *Server) requireNotifyToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.notifyToken == nil {
			writeError(w, r, s.log, &Error{Status: http.StatusForbidden, Code: "notify_disabled",
				Message: "notifications are disabled: set NOTIFY_TOKEN in transientd's configuration"})
			return
		}
		source := s.sources.Key(r)
		if blocked, wait := s.authFails.Blocked(source); blocked {
			writeError(w, r, s.log, tooManyRequests(wait, "too many failed authentication attempts from this address; try again later"))
			return
		}
		sum := sha256.Sum256([]byte(bearerToken(r)))
		if subtle.ConstantTimeCompare(sum[:], s.notifyToken) != 1 {
			s.authFails.Take(source)
			writeError(w, r, s.log, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "send the NOTIFY_TOKEN as Authorization: Bearer <token>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxWalletLen bounds the wallet name of a hint: walletnotify's %w is a
// wallet name, far shorter.
const maxWalletLen = 1024

// decodeHint reads and validates a hint.
func (s *Server) decodeHint(r *http.Request, what string) (notifyRequest, error) {
	var req notifyRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	req.Coin = strings.ToUpper(strings.TrimSpace(req.Coin))
	req.Hash = strings.ToLower(strings.TrimSpace(req.Hash))
	if !s.payments.HasCoin(req.Coin) {
		return req, badRequest("unsupported_currency", "coin", "coin "+quote(req.Coin)+" is not configured; use one of "+strings.Join(s.payments.Coins(), ", "))
	}
	if !isHash(req.Hash) {
		return req, badRequest("invalid_hash", "hash", "hash must be the "+what+" as 64 hexadecimal characters")
	}
	if len(req.Wallet) > maxWalletLen || !payments.ValidText(req.Wallet) {
		return req, badRequest("invalid_field", "wallet", fmt.Sprintf("wallet must be the node wallet's name: "+
			"valid UTF-8 of at most %d bytes, without NUL characters", maxWalletLen))
	}
	return req, nil
}

func (s *Server) notifyTx(w http.ResponseWriter, r *http.Request) error {
	req, err := s.decodeHint(r, "txid")
	if err != nil {
		return err
	}
	if wallet, ok := s.payments.Wallet(req.Coin); ok && req.Wallet != "" && req.Wallet != wallet {
		// A node with several wallets notifies for all of them.
		writeJSON(w, http.StatusAccepted, notifyResponse{Success: true, Ignored: "wallet " + quote(req.Wallet) + " is not the " + req.Coin + " wallet"})
		return nil
	}
	if err := s.payments.HintTx(r.Context(), req.Coin, req.Hash); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, notifyResponse{Success: true})
	return nil
}

func (s *Server) notifyBlock(w http.ResponseWriter, r *http.Request) error {
	req, err := s.decodeHint(r, "block hash")
	if err != nil {
		return err
	}
	if err := s.payments.HintBlock(r.Context(), req.Coin, req.Hash); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, notifyResponse{Success: true})
	return nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func quote(s string) string { return `"` + s + `"` }
