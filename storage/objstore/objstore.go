// Package objstore keeps recordings' files: in a local directory (the
// default) or in a MinIO/S3 bucket. Keys are slash-separated paths such as
// "room/rec_0123/seg-00001.m4s".
package objstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Errors of the object stores.
var (
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("objstore: no such object")
	// ErrInvalidKey: the key is empty, absolute, or has an empty, "." or ".." element.
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// Store is an object store. Implementations are safe for concurrent use.
type Store interface {
	// Put stores size bytes read from r under key, replacing any object
	// there. An object is never seen half written.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns an object's content; ErrNotFound if there is none.
	Open(ctx context.Context, key string) (*Object, error)
	// List returns the keys under prefix (a key or a folder ending in "/"), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// DeletePrefix deletes every object whose key starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// Location names where key is (file:///... or s3://bucket/key), for people.
	Location(key string) string
}

// Presigner is a Store whose objects clients can fetch directly, with a
// URL that carries its own time-limited signature (S3 presigned URLs).
type Presigner interface {
	// PresignGet returns a URL that GETs key until ttl has passed.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Object is an object's content. Close it.
type Object struct {
	io.ReadCloser
	// Size is the content's length in bytes.
	Size int64
}

// checkKey rejects keys that could leave the store's directory or name
// nothing.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return ErrInvalidKey
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return ErrInvalidKey
		}
	}
	return nil
}

// checkPrefix is checkKey for a prefix, which may end in "/".
func checkPrefix(prefix string) error {
	return checkKey(strings.TrimSuffix(prefix, "/"))
}
