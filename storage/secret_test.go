package storage_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"lectern/storage"
	"lectern/storage/storagetest"
)

func TestSecret(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		db := storagetest.Open(t, b)
		ctx := t.Context()

		errBroken := errors.New("no entropy")
		if _, err := db.Secret(ctx, "jwt", func() ([]byte, error) { return nil, errBroken }); !errors.Is(err, errBroken) {
			t.Errorf("Secret with a failing generator: err = %v, want %v", err, errBroken)
		}
		if _, err := db.Secret(ctx, "jwt", func() ([]byte, error) { return []byte{}, nil }); err == nil {
			t.Error("Secret with an empty generated value: no error")
		}

		first, err := db.Secret(ctx, "jwt", func() ([]byte, error) { return []byte{0, 1, 2, 0xff}, nil })
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, []byte{0, 1, 2, 0xff}) {
			t.Errorf("Secret = %x, want the generated 000102ff", first)
		}
		again, err := db.Secret(ctx, "jwt", func() ([]byte, error) {
			t.Error("generate called for an existing secret")
			return []byte("other"), nil
		})
		if err != nil || !bytes.Equal(again, first) {
			t.Errorf("second Secret = %x, %v; want %x", again, err, first)
		}
		other, err := db.Secret(ctx, "cookie", func() ([]byte, error) { return []byte("cookie"), nil })
		if err != nil || string(other) != "cookie" {
			t.Errorf("Secret(cookie) = %q, %v; want a value of its own", other, err)
		}
	})
}

// TestSecretConcurrent has callers on two handles, as two nodes would be,
// race to create one secret: all must get the same value.
func TestSecretConcurrent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		dbs := []*storage.DB{storagetest.Open(t, b), storagetest.Open(t, b)}
		ctx := t.Context()

		const callers = 16
		values := make([][]byte, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				values[i], errs[i] = dbs[i%len(dbs)].Secret(ctx, "shared", func() ([]byte, error) {
					return []byte(rand.Text()), nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if !bytes.Equal(values[i], values[0]) {
				t.Errorf("caller %d got %q, caller 0 got %q", i, values[i], values[0])
			}
		}
	})
}
