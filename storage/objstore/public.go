package objstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"
)

// PutCached is Put with a Cache-Control header stored on the object, which
// the S3 service (and a CDN in front of it) returns with every GET: the
// LL-HLS mirror marks its parts and segments immutable.
func (s *S3) PutCached(ctx context.Context, key string, r io.Reader, size int64, contentType, cacheControl string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.cfg.Bucket, key, r, size,
		minio.PutObjectOptions{ContentType: contentType, CacheControl: cacheControl})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			s.bucketMu.Lock()
			s.bucketReady = false
			s.bucketMu.Unlock()
		}
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

// bucketPolicy is an S3 bucket policy document (the parts kept here).
type bucketPolicy struct {
	Version   string            `json:"Version"`
	Statement []json.RawMessage `json:"Statement"`
}

// AllowPublicRead lets anyone GET the objects under prefix (a folder ending
// in "/"), so that a CDN or a player can fetch them without credentials.
// It adds one statement, identified by its Sid, to the bucket's policy and
// keeps the others. The bucket is created if missing.
func (s *S3) AllowPublicRead(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil || !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("%w: public prefix %q must be a folder ending in /", ErrInvalidKey, prefix)
	}
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	sid := "LecternPublicRead" + strings.NewReplacer("/", "", "-", "", "_", "", ".", "").Replace(prefix)
	p := bucketPolicy{Version: "2012-10-17"}
	old, err := s.client.GetBucketPolicy(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("objstore: bucket %s policy: %w", s.cfg.Bucket, err)
	}
	if old != "" {
		if err := json.Unmarshal([]byte(old), &p); err != nil {
			return fmt.Errorf("objstore: bucket %s policy: %w", s.cfg.Bucket, err)
		}
	}
	kept := p.Statement[:0]
	for _, st := range p.Statement {
		var head struct{ Sid string }
		if json.Unmarshal(st, &head) == nil && head.Sid == sid {
			continue
		}
		kept = append(kept, st)
	}
	ours, _ := json.Marshal(map[string]any{
		"Sid":       sid,
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": []string{"*"}},
		"Action":    []string{"s3:GetObject"},
		"Resource":  []string{"arn:aws:s3:::" + s.cfg.Bucket + "/" + prefix + "*"},
	})
	p.Statement = append(kept, ours)
	doc, _ := json.Marshal(p)
	if err := s.client.SetBucketPolicy(ctx, s.cfg.Bucket, string(doc)); err != nil {
		return fmt.Errorf("objstore: bucket %s policy: %w", s.cfg.Bucket, err)
	}
	return nil
}
