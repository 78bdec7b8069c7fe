package objstore_test

import (
	"net/http"
	"strings"
	"testing"

	"lectern/storage/objstore/miniotest"
)

// TestAllowPublicRead: after AllowPublicRead("hls/") (twice, as every start
// does) anyone can GET the objects under hls/, with the Cache-Control given
// to PutCached, while the rest of the bucket stays private.
func TestAllowPublicRead(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.Store("lectern-test")
	ctx := t.Context()
	for _, key := range []string{"hls/r/s/v0-1.m4s", "rec/secret.mp4"} {
		if err := st.PutCached(ctx, key, strings.NewReader("data"), 4, "video/iso.segment", "public, max-age=3600, immutable"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) *http.Response {
		t.Helper()
		res, err := http.Get("http://" + srv.Endpoint + "/lectern-test/" + key)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get("hls/r/s/v0-1.m4s"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous GET before the policy: %d, want 403", res.StatusCode)
	}
	for range 2 {
		if err := st.AllowPublicRead(ctx, "hls/"); err != nil {
			t.Fatal(err)
		}
	}
	res := get("hls/r/s/v0-1.m4s")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "public, max-age=3600, immutable" ||
		res.Header.Get("Content-Type") != "video/iso.segment" {
		t.Errorf("anonymous GET under hls/: %d %v", res.StatusCode, res.Header)
	}
	if res := get("rec/secret.mp4"); res.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET outside hls/: %d, want 403", res.StatusCode)
	}
	if err := st.AllowPublicRead(ctx, "hls"); err == nil {
		t.Error("a prefix without a trailing slash was accepted")
	}
}
