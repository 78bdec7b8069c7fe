package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"lectern/webhook"
)

var signNow = time.Unix(1_800_000_000, 0)

var verifyCases = []struct {
	name   string
	header string
	body   string
	want   error
}{
	{"good", webhook.Sign([]byte(testSecret), []byte(`{"id":"x"}`), signNow), `{"id":"x"}`, nil},
	{"two MACs, one good", webhook.Sign([]byte("another secret, rotated"), []byte(`{}`), signNow) + ",v1=" +
		strings.TrimPrefix(strings.SplitN(webhook.Sign([]byte(testSecret), []byte(`{}`), signNow), ",v1=", 2)[1], ""), `{}`, nil},
	{"body changed", webhook.Sign([]byte(testSecret), []byte(`{"id":"x"}`), signNow), `{"id":"y"}`, webhook.ErrBadSignature},
	{"wrong secret", webhook.Sign([]byte("not the secret at all"), []byte(`{}`), signNow), `{}`, webhook.ErrBadSignature},
	{"replayed later", webhook.Sign([]byte(testSecret), []byte(`{}`), signNow.Add(-time.Hour)), `{}`, webhook.ErrStale},
	{"from the future", webhook.Sign([]byte(testSecret), []byte(`{}`), signNow.Add(time.Hour)), `{}`, webhook.ErrStale},
	{"empty", "", `{}`, webhook.ErrBadSignature},
	{"no time", "v1=00", `{}`, webhook.ErrBadSignature},
	{"no MAC", "t=1800000000", `{}`, webhook.ErrBadSignature},
	{"short MAC", "t=1800000000,v1=abcd", `{}`, webhook.ErrBadSignature},
	{"bad time", "t=-5,v1=" + strings.Repeat("00", 32), `{}`, webhook.ErrBadSignature},
	{"two times", "t=1,t=2,v1=" + strings.Repeat("00", 32), `{}`, webhook.ErrBadSignature},
	{"no equals", "t=1800000000,v1", `{}`, webhook.ErrBadSignature},
}

func TestVerify(t *testing.T) {
	for _, tt := range verifyCases {
		if err := webhook.Verify([]byte(testSecret), []byte(tt.body), tt.header, signNow, webhook.DefaultTolerance); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify(%q) = %v, want %v", tt.name, tt.header, err, tt.want)
		}
	}
}

// FuzzVerify: any header and body are answered with nil or one of the two
// errors, never a panic, and nil only for what Sign makes.
func FuzzVerify(f *testing.F) {
	for _, tt := range verifyCases {
		f.Add(tt.header, tt.body)
	}
	f.Fuzz(func(t *testing.T, header, body string) {
		err := webhook.Verify([]byte(testSecret), []byte(body), header, signNow, webhook.DefaultTolerance)
		if err != nil && !errors.Is(err, webhook.ErrBadSignature) && !errors.Is(err, webhook.ErrStale) {
			t.Fatalf("Verify(%q) = %v", header, err)
		}
		if ts, macs, err := webhook.ParseSignature(header); err == nil && (ts == "" || len(macs) == 0) {
			t.Fatalf("ParseSignature(%q) accepted without a time or a MAC", header)
		}
	})
}
