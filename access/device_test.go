package access

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func deviceIssuer(t testing.TB, b byte) *Issuer {
	t.Helper()
	i, err := NewIssuer(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestDeviceCookie checks that a cookie round-trips, that one changed byte,
// another key or another shape is refused, and that identities differ by
// room and by device.
func TestDeviceCookie(t *testing.T) {
	i, other := deviceIssuer(t, 1), deviceIssuer(t, 2)
	id := bytes.Repeat([]byte{9}, deviceIDLen)
	cookie := i.DeviceCookie(id)
	dev, ok := i.Device(cookie)
	if !ok || dev == "" {
		t.Fatalf("Device(%q) = %q, %v", cookie, dev, ok)
	}
	for _, bad := range []string{
		"", ".", cookie + "x", strings.Replace(cookie, "C", "D", 1), other.DeviceCookie(id),
		i.DeviceCookie(id[:8]), strings.Repeat("A", 200) + cookie,
		strings.SplitN(cookie, ".", 2)[0] + "." + strings.SplitN(other.DeviceCookie(id), ".", 2)[1],
	} {
		if _, ok := i.Device(bad); ok && bad != cookie {
			t.Errorf("Device(%q) accepted", bad)
		}
	}
	a, b := i.DeviceIdentity(dev, "r1", Viewer), i.DeviceIdentity(dev, "r2", Viewer)
	if a == b || !strings.HasPrefix(a, "guest-") || len(a) != len("guest-")+12 || strings.Contains(a, dev) {
		t.Errorf("identities %q and %q", a, b)
	}
	if a != i.DeviceIdentity(dev, "r1", Viewer) || a == other.DeviceIdentity(dev, "r1", Viewer) {
		t.Error("identity not stable under one key, or the same under another")
	}
	if a == i.DeviceIdentity(dev, "r1", Host) {
		t.Error("the audience PIN and the speaker PIN gave one browser the same identity")
	}
}

// FuzzDevice feeds cookie values from outside: none but a signed one passes,
// and nothing panics.
func FuzzDevice(f *testing.F) {
	i := deviceIssuer(f, 1)
	f.Add(i.DeviceCookie(bytes.Repeat([]byte{9}, deviceIDLen)))
	f.Add("")
	f.Add("a.b")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		dev, ok := i.Device(s)
		if ok && i.DeviceCookie(mustDecode(t, dev)) != s {
			t.Fatalf("Device(%q) accepted a value the issuer would not make", s)
		}
	})
}

func mustDecode(t *testing.T, id string) []byte {
	t.Helper()
	b, err := base64URL(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
