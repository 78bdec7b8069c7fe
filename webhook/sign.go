package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>", the
	// MAC of "<t>.<body>" under the secret. The time is the attempt's, so a
	// receiver refuses replays by refusing old times.
	SignatureHeader = "Lectern-Signature"
	// EventIDHeader repeats the event's ID, for deduplication without
	// parsing the body.
	EventIDHeader = "Lectern-Event-Id"
	// EventTypeHeader repeats the event's type.
	EventTypeHeader = "Lectern-Event-Type"
)

// DefaultTolerance is how old a signature Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ParseSignature splits a SignatureHeader value into its time and its v1
// MACs (a header may carry several, as when a secret is being rotated).
// Unknown fields are ignored.
func ParseSignature(header string) (ts string, macs [][]byte, err error) {
	if len(header) > 4096 {
		return "", nil, ErrBadSignature
	}
	for field := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return "", nil, ErrBadSignature
		}
		switch k {
		case "t":
			if ts != "" || v == "" || len(v) > 12 || strings.Trim(v, "0123456789") != "" {
				return "", nil, ErrBadSignature
			}
			ts = v
		case "v1":
			m, err := hex.DecodeString(v)
			if err != nil || len(m) != sha256.Size {
				return "", nil, ErrBadSignature
			}
			macs = append(macs, m)
		}
	}
	if ts == "" || len(macs) == 0 {
		return "", nil, ErrBadSignature
	}
	return ts, macs, nil
}

// Verify checks a delivery as a receiver should: header is its
// SignatureHeader, body the raw request body. It returns ErrBadSignature
// when no MAC matches and ErrStale when the signing time is more than
// tolerance away from now (a replay, or a clock far off).
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	ts, macs, err := ParseSignature(header)
	if err != nil {
		return err
	}
	want := mac(secret, ts, body)
	ok := false
	for _, m := range macs {
		ok = ok || hmac.Equal(m, want)
	}
	if !ok {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
