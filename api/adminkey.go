package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"lectern/storage"
)

// minAdminKeyLen keeps configured admin keys out of guessing range.
const minAdminKeyLen = 16

// EnsureAdminKey makes sure the store holds an admin API key. A configured key
// (LECTERN_ADMIN_KEY) is stored hashed if it is not there yet. Without one, and
// with no key stored, a new key is generated, stored hashed and returned so that
// the caller can print it once; otherwise it returns "".
func EnsureAdminKey(ctx context.Context, db *storage.DB, configured string) (string, error) {
	if configured != "" {
		if len(configured) < minAdminKeyLen {
			return "", fmt.Errorf("admin_key: must be at least %d characters", minAdminKeyLen)
		}
		sum := sha256.Sum256([]byte(configured))
		_, err := db.APIKeyByHash(ctx, sum[:])
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
		return "", storeAdminKey(ctx, db, "admin (configured)", configured)
	}
	n, err := db.APIKeyCount(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	key := "lk_" + randomText(32)
	if err := storeAdminKey(ctx, db, "admin (generated)", key); err != nil {
		return "", err
	}
	return key, nil
}

func storeAdminKey(ctx context.Context, db *storage.DB, name, key string) error {
	sum := sha256.Sum256([]byte(key))
	_, err := db.CreateAPIKey(ctx, storage.APIKey{ID: randomHex(8), Name: name, Hash: sum[:], Operator: true, CreatedAt: time.Now()})
	if errors.Is(err, storage.ErrConflict) {
		// Another node stored the same configured key at the same moment.
		return nil
	}
	return err
}

// randomText returns n random bytes as unpadded base64url.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
