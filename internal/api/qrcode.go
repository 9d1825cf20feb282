package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/color"
	"net/http"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrOptions are the query parameters of GET /payments/{id}/qrcode.png.
type qrOptions struct {
	content string // "uri" (BIP21, default) or "address"
	size    int
	level   qrcode.RecoveryLevel
	fg, bg  color.RGBA
	border  bool
}

// QR code limits and defaults.
const (
	qrMinSize     = 64
	qrMaxSize     = 1024
	qrDefaultSize = 256
)

// parseQROptions validates the query. Every bad parameter is a 400 naming it
// and the accepted values.
func parseQROptions(q map[string][]string) (qrOptions, error) {
	o := qrOptions{
		content: "uri",
		size:    qrDefaultSize,
		level:   qrcode.Medium,
		fg:      color.RGBA{A: 0xff},
		bg:      color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff},
		border:  true,
	}
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	for key := range q {
		switch key {
		case "content", "size", "level", "fg", "bg", "border":
		default:
			return o, badRequest("unknown_parameter", key, "unknown query parameter "+strconv.Quote(key)+"; use content, size, level, fg, bg or border")
		}
	}
	if v, ok := get("content"); ok {
		if v != "uri" && v != "address" {
			return o, badRequest("invalid_parameter", "content", "content must be uri (the BIP21 payment URI) or address")
		}
		o.content = v
	}
	if v, ok := get("size"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < qrMinSize || n > qrMaxSize {
			return o, badRequest("invalid_parameter", "size", fmt.Sprintf("size must be an integer number of pixels from %d to %d", qrMinSize, qrMaxSize))
		}
		o.size = n
	}
	if v, ok := get("level"); ok {
		levels := map[string]qrcode.RecoveryLevel{"L": qrcode.Low, "M": qrcode.Medium, "Q": qrcode.High, "H": qrcode.Highest}
		l, ok := levels[strings.ToUpper(v)]
		if !ok {
			return o, badRequest("invalid_parameter", "level", "level must be one of L, M, Q, H (error correction from lowest to highest)")
		}
		o.level = l
	}
	for _, c := range []struct {
		key string
		dst *color.RGBA
	}{{"fg", &o.fg}, {"bg", &o.bg}} {
		if v, ok := get(c.key); ok {
			rgba, err := parseHexColor(v)
			if err != nil {
				return o, badRequest("invalid_parameter", c.key, c.key+" must be a hex colour such as 000000, #1a2b3c or fff")
			}
			*c.dst = rgba
		}
	}
	if v, ok := get("border"); ok {
		switch strings.ToLower(v) {
		case "1", "true", "on", "yes":
			o.border = true
		case "0", "false", "off", "no":
			o.border = false
		default:
			return o, badRequest("invalid_parameter", "border", "border must be true or false (the quiet zone around the code)")
		}
	}
	if o.fg == o.bg {
		return o, badRequest("invalid_parameter", "fg", "fg and bg must differ, or the code cannot be scanned")
	}
	return o, nil
}

// parseHexColor accepts RGB or RRGGBB, with or without a leading #.
func parseHexColor(s string) (color.RGBA, error) {
	s = strings.TrimPrefix(s, "#")
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	if len(s) != 6 {
		return color.RGBA{}, fmt.Errorf("bad colour length")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return color.RGBA{}, err
	}
	return color.RGBA{R: b[0], G: b[1], B: b[2], A: 0xff}, nil
}

// renderQR returns the PNG for text under o.
func renderQR(text string, o qrOptions) ([]byte, error) {
	q, err := qrcode.New(text, o.level)
	if err != nil {
		return nil, fmt.Errorf("api: qr encode: %w", err)
	}
	q.ForegroundColor, q.BackgroundColor = o.fg, o.bg
	q.DisableBorder = !o.border
	png, err := q.PNG(o.size)
	if err != nil {
		return nil, fmt.Errorf("api: qr png: %w", err)
	}
	return png, nil
}

func (s *Server) paymentQRCode(w http.ResponseWriter, r *http.Request) error {
	opts, err := parseQROptions(r.URL.Query())
	if err != nil {
		return err
	}
	p, err := s.loadPayment(r)
	if err != nil {
		return err
	}
	text := p.URI
	if opts.content == "address" {
		text = p.Address
	}
	// The content of a payment's code never changes, so the ETag is a
	// function of the text and the rendering options alone.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d|%v|%v|%t", text, opts.size, opts.level, opts.fg, opts.bg, opts.border))
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	png, err := renderQR(text, opts)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	_, _ = w.Write(png)
	return nil
}
