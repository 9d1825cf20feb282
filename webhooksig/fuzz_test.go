package webhooksig

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds Verify any header: it answers nil only for a header
// carrying the right HMAC of its own timestamp and the body, and every
// refusal wraps one of the documented errors. A header made by Sign always
// verifies, and fails with ErrMismatch once the body changes.
func FuzzVerify(f *testing.F) {
	secret := []byte("whsec-fuzz")
	at := time.Unix(1767225600, 0)
	good := Sign(secret, at, []byte(`{"payment_id":"x","status":"PAID"}`))
	for _, h := range []string{
		good, good + ",v1=" + strings.Repeat("0", 64), "v1=" + strings.Repeat("0", 64) + "," + good,
		"t=1767225600", "t=1767225600,v1=zz", "t=-1,v1=" + strings.Repeat("a", 64), "t=01767225600,v1=" + strings.Repeat("a", 64),
		"t=1,t=2,v1=" + strings.Repeat("a", 64), "", ",", "=", "t=,v1=", " t = 1 , v1 = 2 ", "t=99999999999999999999,v1=00",
		"t=1767225600,v1=" + strings.Repeat("A", 64), "v2=abc," + good,
	} {
		f.Add(h, []byte(`{"payment_id":"x","status":"PAID"}`), int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, header string, body []byte, unix int64) {
		now := time.Unix(1767225600, 0)
		err := Verify(secret, header, body, now, time.Minute)
		switch {
		case err == nil:
			// An independent reading of the header: its one t= and its v1= values.
			var ts string
			var sigs []string
			for part := range strings.SplitSeq(header, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
				switch k {
				case "t":
					ts = v
				case "v1":
					sigs = append(sigs, strings.ToLower(v))
				}
			}
			want := Sign(secret, unixOf(t, ts), body)
			if !slices.Contains(sigs, want[strings.Index(want, ",v1=")+len(",v1="):]) {
				t.Fatalf("Verify accepted %q without the body's HMAC", header)
			}
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrMismatch), errors.Is(err, ErrExpired):
		default:
			t.Fatalf("Verify(%q) = %v, not one of the documented errors", header, err)
		}

		// Whatever the body and time, what Sign makes verifies at that time
		// and not for another body.
		if unix < 0 || unix > 1<<40 {
			return
		}
		signedAt := time.Unix(unix, 0)
		h := Sign(secret, signedAt, body)
		if err := Verify(secret, h, body, signedAt, time.Minute); err != nil {
			t.Fatalf("Verify(Sign(…)) = %v for body %q at %d", err, body, unix)
		}
		if err := Verify(secret, h, append(append([]byte{}, body...), 'x'), signedAt, time.Minute); !errors.Is(err, ErrMismatch) {
			t.Fatalf("a changed body gave %v, want ErrMismatch", err)
		}
		if err := Verify([]byte("another"), h, body, signedAt, time.Minute); !errors.Is(err, ErrMismatch) {
			t.Fatalf("another secret gave %v, want ErrMismatch", err)
		}
	})
}

// unixOf reads an accepted header's timestamp.
func unixOf(t *testing.T, ts string) time.Time {
	t.Helper()
	var n int64
	for _, c := range ts {
		if c < '0' || c > '9' {
			t.Fatalf("accepted timestamp %q is not decimal digits", ts)
		}
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0)
}
