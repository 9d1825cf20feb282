package webhooksig

import (
	"errors"
	"testing"
	"time"
)

// The expected values were computed outside Go, with
//
//	printf '%s' '<t>.<body>' | openssl dgst -sha256 -hmac '<secret>' -hex
var signatureVectors = []struct {
	name   string
	secret string
	t      int64
	body   string
	want   string
}{
	{
		name:   "payment body",
		secret: "whsec_3f9a1c",
		t:      1700000000,
		body:   `{"payment_id":"9b2f6a4e-3c1d-4e7f-8a90-1b2c3d4e5f60","status":"PAID"}`,
		want:   "t=1700000000,v1=9777ed67c83489c3990d0ef7a2781341946dd6785431514c7b5153c7ca06d302",
	},
	{
		name:   "empty body",
		secret: "k",
		t:      1735689600,
		body:   ``,
		want:   "t=1735689600,v1=32b5a7e7b448b5e765f382742992c5cc66d95fc56f0ab5f93b10025410eac7b0",
	},
	{
		name:   "empty secret, epoch",
		secret: "",
		t:      0,
		body:   `{}`,
		want:   "t=0,v1=4fa6c2486692767ff3eb0ad23d9638df613add15a49b8ffc0a606879b90a6f25",
	},
}

func TestSignVectors(t *testing.T) {
	for _, tc := range signatureVectors {
		t.Run(tc.name, func(t *testing.T) {
			got := Sign([]byte(tc.secret), time.Unix(tc.t, 0), []byte(tc.body))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			err := Verify([]byte(tc.secret), got, []byte(tc.body), time.Unix(tc.t, 0), time.Minute)
			switch {
			case tc.secret == "" && !errors.Is(err, ErrNoSecret):
				t.Errorf("Verify with an empty secret: %v, want ErrNoSecret", err)
			case tc.secret != "" && err != nil:
				t.Errorf("Verify of own signature: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_3f9a1c")
	body := []byte(`{"payment_id":"9b2f6a4e-3c1d-4e7f-8a90-1b2c3d4e5f60","status":"PAID"}`)
	signedAt := time.Unix(1700000000, 0)
	good := signatureVectors[0].want
	otherSig := Sign([]byte("old secret"), signedAt, body)[len("t=1700000000,"):]
	tolerance := 5 * time.Minute

	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, good, body, signedAt, nil},
		{"valid at the tolerance", secret, good, body, signedAt.Add(tolerance), nil},
		{"valid with spaces", secret, "t=1700000000, v1=9777ed67c83489c3990d0ef7a2781341946dd6785431514c7b5153c7ca06d302", body, signedAt, nil},
		{"rotation: second v1 matches", secret, "t=1700000000," + otherSig + "," + good[len("t=1700000000,"):], body, signedAt, nil},
		{"rotation: first v1 matches", secret, good + "," + otherSig, body, signedAt, nil},
		{"unknown key ignored", secret, good + ",v2=abc", body, signedAt, nil},
		{"changed body", secret, good, []byte(`{"payment_id":"9b2f6a4e-3c1d-4e7f-8a90-1b2c3d4e5f60","status":"PAID" }`), signedAt, ErrMismatch},
		{"wrong secret", []byte("whsec_3f9a1d"), good, body, signedAt, ErrMismatch},
		{"only other secret's v1", secret, "t=1700000000," + otherSig, body, signedAt, ErrMismatch},
		{"changed timestamp", secret, "t=1700000001" + good[len("t=1700000000"):], body, signedAt, ErrMismatch},
		{"old timestamp", secret, good, body, signedAt.Add(tolerance + time.Second), ErrExpired},
		{"future timestamp", secret, good, body, signedAt.Add(-tolerance - time.Second), ErrExpired},
		{"empty header", secret, "", body, signedAt, ErrMalformed},
		{"no t", secret, good[len("t=1700000000,"):], body, signedAt, ErrMalformed},
		{"no v1", secret, "t=1700000000", body, signedAt, ErrMalformed},
		{"two t", secret, "t=1700000000," + good, body, signedAt, ErrMalformed},
		{"t not a number", secret, "t=abc" + good[len("t=1700000000"):], body, signedAt, ErrMalformed},
		{"t with sign", secret, "t=+1700000000" + good[len("t=1700000000"):], body, signedAt, ErrMalformed},
		{"t negative", secret, "t=-1" + good[len("t=1700000000"):], body, signedAt, ErrMalformed},
		{"v1 not hex", secret, "t=1700000000,v1=zz77ed67c83489c3990d0ef7a2781341946dd6785431514c7b5153c7ca06d302", body, signedAt, ErrMalformed},
		{"v1 too short", secret, "t=1700000000,v1=9777ed67", body, signedAt, ErrMalformed},
		{"part without =", secret, good + ",junk", body, signedAt, ErrMalformed},
		{"other scheme", secret, "sha256=9777ed67c83489c3990d0ef7a2781341946dd6785431514c7b5153c7ca06d302", body, signedAt, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.now, tolerance)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	secret, body := []byte("s"), []byte(`{}`)
	at := time.Unix(1700000000, 0)
	h := Sign(secret, at, body)
	if err := Verify(secret, h, body, at.Add(DefaultTolerance), 0); err != nil {
		t.Errorf("at the default tolerance: got %v, want nil", err)
	}
	if err := Verify(secret, h, body, at.Add(DefaultTolerance+time.Second), 0); !errors.Is(err, ErrExpired) {
		t.Errorf("past the default tolerance: got %v, want %v", err, ErrExpired)
	}
}

func TestVerifyRefusesEmptySecret(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	body := []byte(`{"payment_id":"x"}`)
	// Anyone can make this signature: a receiver whose secret variable is
	// unset must not accept it.
	for _, secret := range [][]byte{nil, {}} {
		if err := Verify(secret, Sign(secret, now, body), body, now, 0); !errors.Is(err, ErrNoSecret) {
			t.Errorf("Verify with secret %q: %v, want ErrNoSecret", secret, err)
		}
	}
}
