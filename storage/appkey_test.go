package storage

import (
	"strings"
	"testing"
)

// FuzzScopedKey: whatever a path names, the key it addresses for a caller of
// an app is a key of that app, or nothing (ok false): no name reaches
// another app's room.
func FuzzScopedKey(f *testing.F) {
	for _, s := range [][2]string{{"default", "standup"}, {"acme", "standup"}, {"acme", "acme~standup"},
		{"acme", "beta~standup"}, {"default", "acme~x"}, {"acme", "~"}, {"acme", "acme~"}, {"acme", "a~b~c"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, app, name string) {
		if app == "" || strings.Contains(app, keySep) {
			return // app IDs are [a-z0-9-]: the API makes no other
		}
		key, ok := ScopedKey(app, name)
		if !ok {
			return
		}
		if KeyApp(key) != app {
			t.Fatalf("ScopedKey(%q, %q) = %q, of app %q", app, name, key, KeyApp(key))
		}
		if !strings.Contains(name, keySep) && key != RoomKey(app, name) {
			t.Fatalf("ScopedKey(%q, %q) = %q, want RoomKey", app, name, key)
		}
		if RoomKey(KeyApp(key), RoomName(key)) != key {
			t.Fatalf("key %q does not split back", key)
		}
	})
}
