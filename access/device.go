package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// A device ID names one browser across PIN joins, so that moderation of the
// guest it was (a ban, a chat mute) holds when the same browser joins again
// (docs/security.md "Device cookie"). The server hands it out in a cookie it
// signs with the issuer's key, so a client cannot pick another's ID; the
// guest identity a device gets in a room is derived from it, so the ID itself
// never shows in rosters or tokens.

// deviceIDLen is the random part of a device ID, in bytes.
const deviceIDLen = 16

// deviceMACLen is how much of the HMAC-SHA256 a device cookie carries.
const deviceMACLen = 16

// maxDeviceCookieLen bounds what is decoded of a cookie from outside.
const maxDeviceCookieLen = 128

// mac is HMAC-SHA256 under the issuer's key for one purpose: the label keeps
// a device cookie's MAC from ever serving as a token signature or an
// identity, and the reverse.
func (i *Issuer) mac(label, data string) []byte {
	h := hmac.New(sha256.New, i.key)
	h.Write([]byte("lectern " + label + "\x00" + data))
	return h.Sum(nil)
}

// DeviceCookie returns the signed cookie value of a device ID made of
// deviceIDLen random bytes: base64url(id) "." base64url(mac).
func (i *Issuer) DeviceCookie(id []byte) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString(id)
	return s + "." + enc.EncodeToString(i.mac("device", s)[:deviceMACLen])
}

// Device returns the device ID a cookie value carries, if the issuer signed it.
func (i *Issuer) Device(cookie string) (string, bool) {
	if len(cookie) > maxDeviceCookieLen {
		return "", false
	}
	id, _, ok := strings.Cut(cookie, ".")
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != deviceIDLen {
		return "", false
	}
	// The whole value must be the one the issuer makes for the ID: one ID,
	// one spelling (the decoder skips newlines and stray trailing bits).
	if !hmac.Equal([]byte(i.DeviceCookie(raw)), []byte(cookie)) {
		return "", false
	}
	return id, true
}

// DeviceIdentity is the guest identity of device in room for a PIN join
// with permissions p: the same for every such join of one browser, unrelated
// between rooms and between PINs of other permissions (a host who opens the
// audience's view beside the studio is two participants, not one replacing
// the other), and not revealing the device ID.
func (i *Issuer) DeviceIdentity(device, room string, p Permissions) string {
	return "guest-" + hex.EncodeToString(i.mac("guest", device+"\x00"+room+"\x00"+p.String())[:6])
}
