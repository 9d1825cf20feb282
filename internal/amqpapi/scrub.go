package amqpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// scrubHandler removes the broker password from every log record it
// passes on, whatever attribute carries it: errors of the client library
// may quote what they were given.
type scrubHandler struct {
	slog.Handler
	redact *strings.Replacer
}

// Handle passes on r with its message and attributes scrubbed.
func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.redact.Replace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

// WithAttrs scrubs the attributes before the inner handler keeps them.
func (h *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &scrubHandler{Handler: h.Handler.WithAttrs(clean), redact: h.redact}
}

// WithGroup keeps scrubbing inside the group.
func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{Handler: h.Handler.WithGroup(name), redact: h.redact}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.redact.Replace(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.redact.Replace(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.redact.Replace(x.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
