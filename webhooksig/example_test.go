package webhooksig_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/transient-gateway/transient/webhooksig"
)

// A receiver checks the signature over the raw body before trusting it, and
// deduplicates on the event id because delivery is at least once.
func ExampleVerify() {
	secret := []byte("the PAYMENT_WEBHOOK_SECRET value")
	seen := map[string]bool{} // use a table with a unique key in a real shop

	http.HandleFunc("/transient-webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		err = webhooksig.Verify(secret, r.Header.Get("X-Transient-Signature"), body, time.Now(), 5*time.Minute)
		switch {
		case errors.Is(err, webhooksig.ErrExpired):
			http.Error(w, "stale signature", http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if id := r.Header.Get("X-Transient-Event-Id"); !seen[id] {
			seen[id] = true
			// ... act on body ...
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})
}

func ExampleSign() {
	body := []byte(`{"payment_id":"9b2f6a4e-3c1d-4e7f-8a90-1b2c3d4e5f60","status":"PAID"}`)
	fmt.Println(webhooksig.Sign([]byte("whsec_3f9a1c"), time.Unix(1700000000, 0), body))
	// Output: t=1700000000,v1=9777ed67c83489c3990d0ef7a2781341946dd6785431514c7b5153c7ca06d302
}
