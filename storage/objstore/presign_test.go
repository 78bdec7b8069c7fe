package objstore_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"lectern/storage/objstore"
	"lectern/storage/objstore/miniotest"
)

// TestPresignForPublicURL: with a public URL (the address browsers use, as
// in Docker where Lectern reaches MinIO by another name), presigned URLs name
// it and work there.
func TestPresignForPublicURL(t *testing.T) {
	srv := miniotest.Start(t)
	put(t, srv.Store("public"), "r/x/seg.m4s", "media bytes")
	_, port, _ := strings.Cut(srv.Endpoint, ":")
	cfg := srv.Config("public")
	cfg.PublicURL = "http://localhost:" + port
	st, err := objstore.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.PresignGet(t.Context(), "r/x/seg.m4s", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if pu, err := url.Parse(u); err != nil || pu.Host != "localhost:"+port || pu.Scheme != "http" {
		t.Fatalf("presigned URL %s names the internal endpoint", u)
	}
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "media bytes" {
		t.Fatalf("GET %s: %d %q", u, res.StatusCode, body)
	}

	cfg.PublicURL = "localhost:" + port // no scheme
	bad, err := objstore.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.PresignGet(t.Context(), "r/x/seg.m4s", time.Minute); err == nil || !strings.Contains(err.Error(), "public URL") {
		t.Errorf("a public URL without a scheme: %v", err)
	}
}
