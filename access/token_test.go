package access

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss, err := NewIssuer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func testClaims(now time.Time) Claims {
	return Claims{
		ID:        "tok1",
		Identity:  "alice",
		Name:      "Alice",
		Rooms:     map[string]Grant{"demo": {Permissions: Speaker, Tier: HD, Sources: Screen | ScreenAudio}, "other": {Permissions: Viewer}},
		IssuedAt:  now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour),
	}
}

func TestTokenRoundTrip(t *testing.T) {
	iss := testIssuer(t)
	want := testClaims(time.Now().Truncate(time.Second))
	tok, err := iss.Sign(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Identity != want.Identity || got.Name != want.Name ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) {
		t.Errorf("claims = %+v, want %+v", got, want)
	}
	g, err := got.Grant("demo")
	if err != nil || g != (Grant{Permissions: Speaker, Tier: HD, Sources: Screen | ScreenAudio}) {
		t.Errorf("demo grant = %+v, %v", g, err)
	}
	if _, err := got.Grant("elsewhere"); !errors.Is(err, ErrWrongRoom) {
		t.Errorf("elsewhere: %v", err)
	}
}

// tokenCases returns tokens that must be refused, and the error for each.
func tokenCases(t testing.TB) map[string]error {
	iss := testIssuer(t)
	now := time.Now()
	good, err := iss.Sign(testClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	expiredClaims := testClaims(now)
	expiredClaims.ExpiresAt = now.Add(-time.Minute)
	expired, _ := iss.Sign(expiredClaims)
	other, _ := NewIssuer([]byte(strings.Repeat("x", 32)))
	foreign, _ := other.Sign(testClaims(now))
	parts := strings.Split(good, ".")
	// A payload that grants moderate, with the original signature.
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"p":"subscribe,receive"`, `"p":"subscribe,receive,moderate"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	return map[string]error{
		"":                        ErrTokenMalformed,
		"garbage":                 ErrTokenMalformed,
		"a.b.c":                   ErrTokenMalformed,
		strings.Repeat("a", 9000): ErrTokenMalformed,
		expired:                   ErrTokenExpired,
		foreign:                   ErrTokenInvalid,
		tampered:                  ErrTokenInvalid,
		none:                      ErrTokenInvalid,
		flipFirst(parts[0]+"."+parts[1]+".", parts[2]): ErrTokenInvalid,
		parts[0] + "." + parts[1] + ".":                ErrTokenInvalid,
	}
}

func TestTokenRefused(t *testing.T) {
	iss := testIssuer(t)
	for tok, want := range tokenCases(t) {
		if _, err := iss.Verify(tok); !errors.Is(err, want) {
			name := tok
			if len(name) > 40 {
				name = name[:20] + "..." + name[len(name)-10:]
			}
			t.Errorf("%q: got %v, want %v", name, err, want)
		}
	}
}

func FuzzTokenVerify(f *testing.F) {
	for tok := range tokenCases(f) {
		f.Add(tok)
	}
	iss := testIssuer(f)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := iss.Verify(tok)
		if err == nil && (c.Identity == "" || c.ID == "") {
			t.Fatalf("accepted a token without identity: %+v", c)
		}
	})
}

// flipFirst appends sig to prefix with its first character changed, keeping it valid base64.
func flipFirst(prefix, sig string) string {
	c := byte('A')
	if sig[0] == 'A' {
		c = 'B'
	}
	return prefix + string(c) + sig[1:]
}
