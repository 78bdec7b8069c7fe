package access

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestTokenApps: a token carries its app and is signed with the app's key.
// A token of the default app is what the release before apps made (no app
// claim, the server's key), so tokens issued before an upgrade keep working;
// a token of one app cannot be turned into another app's by its claim.
func TestTokenApps(t *testing.T) {
	iss := testIssuer(t)
	now := time.Now()

	c := testClaims(now)
	c.App = "alpha"
	tok, err := iss.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok)
	if err != nil || got.App != "alpha" {
		t.Fatalf("alpha's token verified as %+v, %v", got, err)
	}
	// The payload changed to name beta, the signature kept: refused.
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"app":"alpha"`, `"app":"beta"`, 1)
	if forged == string(payload) {
		t.Fatalf("no app claim in %s", payload)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	if _, err := iss.Verify(strings.Join(parts, ".")); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("alpha's token renamed to beta: %v, want ErrTokenInvalid", err)
	}
	// Signed with the server's key but naming alpha: refused (alpha's
	// tokens are signed with alpha's key).
	raw := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "lectern", "sub": "mallory", "jti": "x",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "app": "alpha", "rooms": map[string]any{"alpha~r": map[string]any{"p": "publish"}}})
	s, err := raw.SignedString([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(s); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("an alpha token signed with the server's key: %v, want ErrTokenInvalid", err)
	}

	// The default app: no claim in the token, as before apps.
	d := testClaims(now)
	for _, app := range []string{"", "default"} {
		d.App = app
		tok, err := iss.Sign(d)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		if strings.Contains(string(payload), `"app"`) {
			t.Errorf("a default app token carries an app claim: %s", payload)
		}
		if got, err := iss.Verify(tok); err != nil || got.App != "default" {
			t.Errorf("a default app token verified as %+v, %v", got, err)
		}
	}
	// A token made as the release before apps made it.
	old := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "lectern", "sub": "alice", "jti": "y",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "rooms": map[string]any{"demo": map[string]any{"p": "publish"}}})
	s, err = old.SignedString([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := iss.Verify(s); err != nil || got.App != "default" || got.Rooms["demo"].Permissions != Publish {
		t.Errorf("a token of the previous release: %+v, %v", got, err)
	}
}
