package api

import (
	"crypto/rand"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	roomIDPattern   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)
	identityPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,128}$`)
)

// Lengths of generated PINs. The speaker PIN is longer: it grants publishing.
const (
	pinDigits        = 8
	speakerPINDigits = 10
)

// displayName validates a human name: trimmed, 1 to max characters, nothing
// that draws it as another name (checkName).
func displayName(field, s string, max int, code string) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < 1 || n > max {
		return "", errorf(http.StatusBadRequest, code, "%s: must be 1 to %d characters", field, max)
	}
	if problem := checkName(s); problem != "" {
		return "", errorf(http.StatusBadRequest, code, "%s: %s", field, problem)
	}
	return s, nil
}

// newDigits returns n random decimal digits.
func newDigits(n int) string {
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		d, _ := rand.Int(rand.Reader, ten)
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

// newRoomID returns a random room ID of 10 lowercase letters and digits.
func newRoomID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
