package payments

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// getSQLTypes are the types of GetSQL's columns, in order.
var getSQLTypes = [...]uint32{
	pgtype.UUIDOID, pgtype.TextOID, pgtype.Int8OID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, // id … status
	pgtype.Int8OID, pgtype.Int8OID, pgtype.BoolOID, pgtype.BoolOID, pgtype.Int4OID, pgtype.Int4OID, // amount_received … tolerance_bp
	pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TextOID, pgtype.JSONBOID, // expires_at … metadata
	pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TextOID, pgtype.TextOID, // created_at … redirect_url
	pgtype.Int4OID, pgtype.BoolOID, pgtype.Int4OID, pgtype.TextOID, // settle_confirmations … api
	pgtype.TextOID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Int8OID, pgtype.BoolOID, pgtype.BoolOID, // o.txid … o.replaceable
	pgtype.TextOID, pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, // block_hash … o.updated_at
}

// rawGetColumns reports whether the columns of a GetSQL result are the
// types, in the formats, that decodeGetRow reads: text and jsonb as text,
// everything else in binary, as pgx asks for them. Anything else (another
// pgx, another query mode) goes through rows.Scan.
func rawGetColumns(fields []pgconn.FieldDescription) bool {
	if len(fields) != len(getSQLTypes) {
		return false
	}
	for i, f := range fields {
		want := int16(pgtype.BinaryFormatCode)
		if getSQLTypes[i] == pgtype.TextOID || getSQLTypes[i] == pgtype.JSONBOID {
			want = pgtype.TextFormatCode
		}
		if f.DataTypeOID != getSQLTypes[i] || f.Format != want {
			return false
		}
	}
	return true
}

// getRow is one decoded row of GetSQL: the payment's columns in ps, and
// the output when the row has one.
type getRow struct {
	ps        paymentScan
	hasOutput bool
	output    Output
}

// decodeGetRow fills row from the raw values of one GetSQL row whose
// columns rawGetColumns accepted, to the values rows.Scan into Store.Get's
// destinations gives (TestDecodeGetRowMatchesScan), without planning a
// scan per column on every read. ok is false for a value it leaves to
// Scan: a NULL where none is expected, a time out of years 1–9999 or
// infinite, a malformed value; row must then be decoded by Scan.
func decodeGetRow(v [][]byte, row *getRow) (ok bool) {
	if len(v) != len(getSQLTypes) {
		return false
	}
	p := &row.ps.p
	if len(v[0]) != 16 {
		return false
	}
	copy(p.ID[:], v[0])
	var d rawDecoder
	p.Coin = d.text(v[1])
	row.ps.amount = d.int8(v[2])
	p.Address = d.text(v[3])
	p.Label = d.text(v[4])
	row.ps.status = d.text(v[5])
	row.ps.recv = d.int8(v[6])
	row.ps.confirmed = d.int8(v[7])
	p.Overpaid = d.bool(v[8])
	p.PaidLate = d.bool(v[9])
	p.Confirmations = int64(d.int4(v[10]))
	p.ToleranceBP = int64(d.int4(v[11]))
	row.ps.expiresAt = d.optTimestamptz(v[12])
	row.ps.pendingSince = d.optTimestamptz(v[13])
	p.OrderID = d.text(v[14])
	if v[15] == nil {
		return false
	}
	// What json.Unmarshal into a json.RawMessage keeps of the jsonb's text:
	// all of it, as PostgreSQL writes no space around a value.
	p.Metadata = json.RawMessage(append([]byte(nil), v[15]...))
	p.CreatedAt = d.timestamptz(v[16])
	p.UpdatedAt = d.timestamptz(v[17])
	p.CallbackURL = d.text(v[18])
	p.RedirectURL = d.text(v[19])
	p.SettleConfirmations = int64(d.int4(v[20]))
	p.Settled = d.bool(v[21])
	row.ps.windowSeconds = nil
	if v[22] != nil {
		n := d.int4(v[22])
		row.ps.windowSeconds = &n
	}
	p.API = d.text(v[23])
	row.hasOutput = v[24] != nil
	if row.hasOutput {
		row.output = Output{
			TxID:          d.text(v[24]),
			Vout:          uint32(d.int4(v[25])),
			Amount:        Amount(d.int8(v[26])),
			Confirmations: d.int8(v[27]),
			Conflicted:    d.bool(v[28]),
			Replaceable:   d.bool(v[29]),
			BlockHash:     d.text(v[30]),
			BlockHeight:   d.int8(v[31]),
			FirstSeenAt:   d.timestamptz(v[32]),
			ReceivedAt:    d.timestamptz(v[33]),
			UpdatedAt:     d.timestamptz(v[34]),
		}
	} else {
		// Without an output every output column is NULL but the two
		// coalesced ones, which Scan still reads.
		_, _ = d.text(v[30]), d.int8(v[31])
		for _, b := range v[25:30] {
			if b != nil {
				return false
			}
		}
		for _, b := range v[32:35] {
			if b != nil {
				return false
			}
		}
	}
	return !d.bad
}

// Microseconds from 2000-01-01 (PostgreSQL's epoch) to the Unix epoch, and
// the range of timestamps decodeTimestamptz decodes: years 1 to 9999,
// well inside what pgx decodes and clear of its infinities.
const (
	pgEpochMicros   = 946_684_800 * 1_000_000
	minFastTSMicros = (-62_135_596_800 - 946_684_800) * 1_000_000 // 0001-01-01
	endFastTSMicros = (253_402_300_800 - 946_684_800) * 1_000_000 // 10000-01-01
)

// decodeTimestamptz decodes a binary timestamptz as pgx scans it into a
// time.Time (in time.Local), or reports false outside years 1–9999.
func decodeTimestamptz(b []byte) (time.Time, bool) {
	if len(b) != 8 {
		return time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us < minFastTSMicros || us >= endFastTSMicros {
		return time.Time{}, false
	}
	return time.Unix(pgEpochMicros/1_000_000+us/1_000_000, (pgEpochMicros%1_000_000*1_000)+(us%1_000_000*1_000)), true
}

// rawDecoder decodes binary values as pgx scans them into Go values, and
// remembers whether one could not be decoded.
type rawDecoder struct{ bad bool }

func (d *rawDecoder) text(b []byte) string {
	if b == nil {
		d.bad = true
	}
	return string(b)
}

func (d *rawDecoder) int8(b []byte) int64 {
	if len(b) != 8 {
		d.bad = true
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (d *rawDecoder) int4(b []byte) int32 {
	if len(b) != 4 {
		d.bad = true
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (d *rawDecoder) bool(b []byte) bool {
	if len(b) != 1 {
		d.bad = true
		return false
	}
	return b[0] == 1
}

func (d *rawDecoder) timestamptz(b []byte) time.Time {
	t, ok := decodeTimestamptz(b)
	if !ok {
		d.bad = true
	}
	return t
}

// optTimestamptz is timestamptz for a column that may be NULL (nil).
func (d *rawDecoder) optTimestamptz(b []byte) *time.Time {
	if b == nil {
		return nil
	}
	t := d.timestamptz(b)
	return &t
}
