package api

import (
	"bytes"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

func TestParseQROptions(t *testing.T) {
	tests := []struct {
		query   string
		want    func(o qrOptions) bool
		errHas  string
		errFlag string
	}{
		{query: "", want: func(o qrOptions) bool {
			return o.content == "uri" && o.size == 256 && o.level == qrcode.Medium && o.border &&
				o.fg == color.RGBA{A: 255} && o.bg == color.RGBA{255, 255, 255, 255}
		}},
		{query: "content=address", want: func(o qrOptions) bool { return o.content == "address" }},
		{query: "size=64", want: func(o qrOptions) bool { return o.size == 64 }},
		{query: "size=1024", want: func(o qrOptions) bool { return o.size == 1024 }},
		{query: "level=h", want: func(o qrOptions) bool { return o.level == qrcode.Highest }},
		{query: "level=Q", want: func(o qrOptions) bool { return o.level == qrcode.High }},
		{query: "level=L", want: func(o qrOptions) bool { return o.level == qrcode.Low }},
		{query: "fg=%231a2b3c&bg=fff", want: func(o qrOptions) bool {
			return o.fg == color.RGBA{0x1a, 0x2b, 0x3c, 255} && o.bg == color.RGBA{255, 255, 255, 255}
		}},
		{query: "border=false", want: func(o qrOptions) bool { return !o.border }},
		{query: "border=off", want: func(o qrOptions) bool { return !o.border }},
		{query: "size=63", errFlag: "size", errHas: "64 to 1024"},
		{query: "size=1025", errFlag: "size", errHas: "64 to 1024"},
		{query: "size=big", errFlag: "size", errHas: "64 to 1024"},
		{query: "level=X", errFlag: "level", errHas: "L, M, Q, H"},
		{query: "fg=red", errFlag: "fg", errHas: "hex colour"},
		{query: "bg=12345", errFlag: "bg", errHas: "hex colour"},
		{query: "fg=000&bg=000000", errFlag: "fg", errHas: "differ"},
		{query: "border=maybe", errFlag: "border", errHas: "true or false"},
		{query: "content=qr", errFlag: "content", errHas: "uri"},
		{query: "colour=red", errFlag: "colour", errHas: "unknown query parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			o, err := parseQROptions(q)
			if tt.errHas != "" {
				e, ok := err.(*Error)
				if !ok || e.Status != 400 || e.Field != tt.errFlag || !strings.Contains(e.Message, tt.errHas) {
					t.Fatalf("err = %#v, want 400 on %s containing %q", err, tt.errFlag, tt.errHas)
				}
				return
			}
			if err != nil || !tt.want(o) {
				t.Fatalf("parseQROptions(%s) = %+v, %v", tt.query, o, err)
			}
		})
	}
}

func TestQRCode(t *testing.T) {
	a := newAPI(t)
	p := a.create(`{"currency":"LTC","amount":"0.5"}`)
	id, addr, uri := p["id"].(string), p["payment_address"].(string), p["payment_uri"].(string)

	reference := func(text string, level qrcode.RecoveryLevel, size int, border bool) []byte {
		q, err := qrcode.New(text, level)
		if err != nil {
			t.Fatal(err)
		}
		q.DisableBorder = !border
		b, err := q.PNG(size)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		query string
		want  []byte
		size  int
	}{
		{"", reference(uri, qrcode.Medium, 256, true), 256},
		{"?content=address", reference(addr, qrcode.Medium, 256, true), 256},
		{"?size=512&level=H&border=false", reference(uri, qrcode.Highest, 512, false), 512},
	}
	etags := map[string]bool{}
	for _, tt := range tests {
		r := a.do("GET", "/payments/"+id+"/qrcode.png"+tt.query, "")
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("%s: %d %s", tt.query, r.status, r.header.Get("Content-Type"))
		}
		if !bytes.Equal(r.body, tt.want) {
			t.Errorf("%s: PNG differs from the reference rendering of the expected content", tt.query)
		}
		img, err := png.Decode(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", tt.query, err)
		}
		if b := img.Bounds(); b.Dx() != tt.size || b.Dy() != tt.size {
			t.Errorf("%s: image %dx%d, want %d", tt.query, b.Dx(), b.Dy(), tt.size)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
			t.Errorf("Cache-Control = %q", cc)
		}
		etag := r.header.Get("ETag")
		if etag == "" || etags[etag] {
			t.Errorf("%s: ETag %q missing or shared with other options", tt.query, etag)
		}
		etags[etag] = true
		again := a.do("GET", "/payments/"+id+"/qrcode.png"+tt.query, "", "If-None-Match", etag)
		if again.status != http.StatusNotModified || len(again.body) != 0 {
			t.Errorf("%s: conditional GET = %d with %d bytes, want 304", tt.query, again.status, len(again.body))
		}
	}
	// Colours are applied.
	r := a.do("GET", "/payments/"+id+"/qrcode.png?fg=ff0000&bg=00ff00&size=64", "")
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, al := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(al >> 8)}] = true
		}
	}
	if !seen[color.RGBA{255, 0, 0, 255}] || !seen[color.RGBA{0, 255, 0, 255}] || len(seen) != 2 {
		t.Errorf("colours in the image: %v, want exactly red and green", seen)
	}
	// Bad parameters are 400 JSON, checked before the payment is looked up.
	r = a.do("GET", "/payments/"+id+"/qrcode.png?size=5000", "")
	if code, _ := r.errorCode(t); r.status != 400 || code != "invalid_parameter" {
		t.Errorf("size=5000: %d %s", r.status, r.body)
	}
}
