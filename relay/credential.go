package relay

import (
	"crypto/hmac"
	"crypto/sha1" // #nosec: TURN REST credentials are HMAC-SHA1 by definition
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Credential mints a time-limited TURN credential in the TURN REST API style
// (draft-uberti-behave-turn-rest section 2.2): the username is the expiry in
// Unix seconds, a colon and the identity; the password is the base64 HMAC-SHA1
// of the username under the server's secret. Any node holding the secret can
// check it without storing anything.
func Credential(secret []byte, identity string, until time.Time) (username, password string) {
	username = strconv.FormatInt(until.Unix(), 10) + ":" + identity
	return username, credentialPassword(secret, username)
}

func credentialPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits a credential username into its expiry and identity.
func parseUsername(username string) (until time.Time, identity string, ok bool) {
	ts, identity, ok := strings.Cut(username, ":")
	if !ok || identity == "" {
		return time.Time{}, "", false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, "", false
	}
	return time.Unix(sec, 0), identity, true
}
