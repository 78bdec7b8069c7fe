package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"lectern/storage/objstore"
	"lectern/storage/objstore/miniotest"
)

// eachStore runs fn against each kind of store.
func eachStore(t *testing.T, fn func(t *testing.T, st objstore.Store, minio *miniotest.Server)) {
	for _, c := range miniotest.Cases("lectern-test") {
		t.Run(c.Name, func(t *testing.T) {
			st, srv := c.Open(t)
			fn(t, st, srv)
		})
	}
}

func put(t *testing.T, st objstore.Store, key, body string) {
	t.Helper()
	if err := st.Put(t.Context(), key, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func read(t *testing.T, st objstore.Store, key string) (string, error) {
	t.Helper()
	o, err := st.Open(t.Context(), key)
	if err != nil {
		return "", err
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err == nil && int64(len(b)) != o.Size {
		t.Errorf("%s: read %d bytes, Size %d", key, len(b), o.Size)
	}
	return string(b), err
}

func TestStores(t *testing.T) {
	eachStore(t, func(t *testing.T, st objstore.Store, _ *miniotest.Server) {
		ctx := t.Context()
		put(t, st, "room/rec-1/index.m3u8", "#EXTM3U\n")
		put(t, st, "room/rec-1/seg-1.m4s", "one")
		put(t, st, "room/rec-1/seg-1.m4s", "segment one") // replaced
		put(t, st, "room/rec-10/seg-1.m4s", "other recording")
		if got, err := read(t, st, "room/rec-1/seg-1.m4s"); err != nil || got != "segment one" {
			t.Errorf("read back %q, %v", got, err)
		}
		if _, err := read(t, st, "room/rec-1/missing"); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("missing object: %v", err)
		}
		keys, err := st.List(ctx, "room/rec-1/")
		if err != nil || strings.Join(keys, ",") != "room/rec-1/index.m3u8,room/rec-1/seg-1.m4s" {
			t.Errorf("List = %v, %v", keys, err)
		}
		if keys, err := st.List(ctx, "nothing/"); err != nil || keys == nil || len(keys) != 0 {
			t.Errorf("List of an empty prefix = %#v, %v", keys, err)
		}
		if err := st.Put(ctx, "short", strings.NewReader("abc"), 5, ""); err == nil {
			t.Error("a short body was stored")
		}
		for _, bad := range []string{"", "/abs", "a/../b", "a//b", "..", "a\\b", "a/./b"} {
			if err := st.Put(ctx, bad, strings.NewReader("x"), 1, ""); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", bad, err)
			}
			if _, err := st.Open(ctx, bad); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", bad, err)
			}
		}

		if err := st.DeletePrefix(ctx, "room/rec-1/"); err != nil {
			t.Fatal(err)
		}
		if keys, err := st.List(ctx, "room/"); err != nil || strings.Join(keys, ",") != "room/rec-10/seg-1.m4s" {
			t.Errorf("after DeletePrefix: %v, %v", keys, err)
		}
		if err := st.DeletePrefix(ctx, "room/rec-1/"); err != nil {
			t.Errorf("deleting nothing: %v", err)
		}
		if loc := st.Location("room/rec-10/"); !strings.HasPrefix(loc, "file:///") && !strings.HasPrefix(loc, "s3://lectern-test/") {
			t.Errorf("Location = %q", loc)
		}
	})
}

// TestPresignAndOutage: a presigned URL fetches the object with plain
// HTTP; while MinIO is down operations fail fast, and work again once it is back.
func TestPresignAndOutage(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.Store("presign")
	put(t, st, "r/x/seg.m4s", "media bytes")
	u, err := st.PresignGet(t.Context(), "r/x/seg.m4s", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "media bytes" {
		t.Fatalf("GET presigned: %d %q", res.StatusCode, body)
	}
	if res, err := http.Get(strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1)); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("tampered URL: %v %v", res.StatusCode, err)
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := st.Put(ctx, "r/x/late.m4s", bytes.NewReader([]byte("late")), 4, ""); err == nil {
		t.Fatal("put while MinIO is down succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a put while MinIO is down took %v; the recorder retries with its own backoff", d)
	}
	srv.Restart()
	put(t, st, "r/x/late.m4s", "late")
	if got, err := read(t, st, "r/x/late.m4s"); err != nil || got != "late" {
		t.Errorf("after restart: %q %v", got, err)
	}
}
