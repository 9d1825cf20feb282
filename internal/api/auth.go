package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// KeyChecker decides whether an API key may use the merchant routes.
type KeyChecker interface {
	// CheckKey reports whether key is valid. An error means the answer is
	// unknown (for example the database is down), not that the key is bad.
	CheckKey(ctx context.Context, key string) (bool, error)
}

// StaticKeys is a KeyChecker over a fixed list of keys, the API_KEYS setting.
// It compares in constant time: each key is hashed first, so neither the
// content nor the length of a configured key leaks through timing.
type StaticKeys [][sha256.Size]byte

// NewStaticKeys returns a StaticKeys accepting keys.
func NewStaticKeys(keys []string) StaticKeys {
	s := make(StaticKeys, 0, len(keys))
	for _, k := range keys {
		s = append(s, sha256.Sum256([]byte(k)))
	}
	return s
}

// CheckKey implements KeyChecker.
func (s StaticKeys) CheckKey(_ context.Context, key string) (bool, error) {
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(sum[:], s[i][:])
	}
	return ok == 1, nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "".
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// requireKey lets a request through only with a valid API key.
func (s *Server) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		full, err := s.checkKey(w, r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if !full {
			w.Header().Set("WWW-Authenticate", `Bearer realm="transient"`)
			writeError(w, r, s.log, &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "send an API key as Authorization: Bearer <key>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkKey reports whether r may see what the merchant routes show: it
// carries a valid API key, or carries none while ALLOW_UNAUTHENTICATED is
// set. A request without Authorization gets false and no error; a key
// that is sent and not valid is a 401 error, counted against its source;
// a source with too many failures gets a 429 error before its key is
// looked at.
func (s *Server) checkKey(w http.ResponseWriter, r *http.Request) (bool, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return s.openAccess, nil
	}
	source := s.sources.Key(r)
	if blocked, wait := s.authFails.Blocked(source); blocked {
		return false, tooManyRequests(wait, "too many failed authentication attempts from this address; try again later")
	}
	token := bearerToken(r)
	ok := false
	if token != "" {
		var err error
		if ok, err = s.keys.CheckKey(r.Context(), token); err != nil {
			return false, err
		}
	}
	if !ok {
		s.authFails.Take(source)
		msg := "the API key is not valid"
		if token == "" {
			msg = "send an API key as Authorization: Bearer <key>"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="transient", error="invalid_token"`)
		return false, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
	}
	return true, nil
}
