package objstore

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config names a bucket on MinIO or another S3 service.
type S3Config struct {
	// Endpoint is host:port, without a scheme.
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	// UseSSL reaches the endpoint over HTTPS.
	UseSSL bool
	// Region is the bucket's region; empty asks the service once.
	Region string
	// PublicURL is where clients reach the service when that differs from
	// Endpoint (http://localhost:9000 when Lectern reaches MinIO as
	// minio:9000 inside Docker): presigned URLs are made for it. Empty:
	// Endpoint.
	PublicURL string
}

// S3 keeps objects in a bucket through minio-go. The client's own retries
// are off: callers retry with their own backoff (the recorder forever), so
// an operation fails fast while the service is down. The bucket is created
// on first use if missing; bucketMu guards that.
type S3 struct {
	cfg    S3Config
	client *minio.Client

	bucketMu    sync.Mutex
	bucketReady bool
	// presigner signs URLs for PublicURL; made on first use, once the
	// bucket's region is known (signing must not contact the public host).
	presignMu sync.Mutex
	presigner *minio.Client
}

// NewS3 returns the store of cfg's bucket. It does not contact the service.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("objstore: s3 needs an endpoint and a bucket")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseSSL,
		Region:     cfg.Region,
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 client: %w", err)
	}
	return &S3{cfg: cfg, client: c}, nil
}

// ensureBucket creates the bucket once if it does not exist.
func (s *S3) ensureBucket(ctx context.Context) error {
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	if s.bucketReady {
		return nil
	}
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err == nil && !ok {
		err = s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("objstore: bucket %s: %w", s.cfg.Bucket, err)
	}
	s.bucketReady = true
	return nil
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.ensureBucket(ctx); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.cfg.Bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			s.bucketMu.Lock()
			s.bucketReady = false // deleted behind our back: create it again next time
			s.bucketMu.Unlock()
		}
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (*Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	o, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
			err = ErrNotFound
		}
		return nil, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	return &Object{ReadCloser: o, Size: st.Size}, nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	keys := []string{}
	for o := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			if minio.ToErrorResponse(o.Err).Code == "NoSuchBucket" {
				return keys, nil
			}
			return nil, fmt.Errorf("objstore: list %s: %w", prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys, nil
}

// DeletePrefix implements Store.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	objs := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	for e := range s.client.RemoveObjects(ctx, s.cfg.Bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return fmt.Errorf("objstore: delete %s: %w", e.ObjectName, e.Err)
		}
	}
	return nil
}

// Location implements Store.
func (s *S3) Location(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }

// PresignGet implements Presigner. Signing is local once the bucket's
// region is known.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	c, err := s.presignClient(ctx)
	if err != nil {
		return "", err
	}
	u, err := c.PresignedGetObject(ctx, s.cfg.Bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("objstore: presign %s: %w", key, err)
	}
	return u.String(), nil
}

// presignClient is the client that signs URLs: the store's own, or one for
// PublicURL in the bucket's region.
func (s *S3) presignClient(ctx context.Context) (*minio.Client, error) {
	if s.cfg.PublicURL == "" {
		return s.client, nil
	}
	s.presignMu.Lock()
	defer s.presignMu.Unlock()
	if s.presigner != nil {
		return s.presigner, nil
	}
	u, err := url.Parse(s.cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("objstore: public URL %q: want http(s)://host[:port]", s.cfg.PublicURL)
	}
	region := s.cfg.Region
	if region == "" {
		if region, err = s.client.GetBucketLocation(ctx, s.cfg.Bucket); err != nil {
			return nil, fmt.Errorf("objstore: the bucket's region: %w", err)
		}
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.cfg.AccessKey, s.cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: region,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 client for %s: %w", s.cfg.PublicURL, err)
	}
	s.presigner = c
	return c, nil
}
