package cascade

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"lectern/access"
	"lectern/storage"
)

// credentialTTL is how long a node credential is good for: one pull's POST
// or DELETE, with room for clocks a little apart.
const credentialTTL = 2 * time.Minute

// Credential returns the Config.Token of a node whose tokens are signed by
// issuer: every node of a cluster holds the one signing key kept in the
// database, so the owner verifies the edge's pull as any viewer's token. It
// grants subscribe in the one room (a room key, its app's token), to an
// identity of its own per edge and layer, for credentialTTL (docs/security.md
// "Between nodes").
func Credential(issuer *access.Issuer) func(room, identity string) (string, error) {
	return func(room, identity string) (string, error) {
		b := make([]byte, 9)
		rand.Read(b)
		now := time.Now()
		// A room of an app other than the default is reached only with a
		// token of its app (docs/security.md "Apps").
		app := storage.KeyApp(room)
		if app == storage.DefaultApp {
			app = ""
		}
		return issuer.Sign(access.Claims{ID: "cascade-" + hex.EncodeToString(b), App: app, Identity: identity, Name: "Cascade edge",
			Rooms:    map[string]access.Grant{room: {Permissions: access.Subscribe}},
			IssuedAt: now, ExpiresAt: now.Add(credentialTTL)})
	}
}
