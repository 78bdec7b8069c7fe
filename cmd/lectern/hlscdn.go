package main

import (
	"context"
	"log/slog"
	"time"

	"lectern/hls"
	"lectern/storage/objstore"
)

// useHLSCDN publishes the LL-HLS media to the S3 bucket under hls/ when
// hls_cdn_url is set (docs/hls.md, "HLS through S3 and a CDN"), and makes
// that prefix readable by anyone. A bucket that refuses the policy (a CDN
// reading with its own credentials, block public access on AWS) is only
// warned about: the operator grants the CDN access instead.
func useHLSCDN(ctx context.Context, cfg config, broadcast *hls.Service, log *slog.Logger) error {
	if cfg.HLSCDNURL == "" {
		return nil
	}
	store, err := objstore.NewS3(objstore.S3Config{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket,
		AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, UseSSL: cfg.S3.UseSSL})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.AllowPublicRead(pctx, hls.MirrorPrefix); err != nil {
		log.Warn("hls cdn: could not make the bucket's hls/ prefix public; let the CDN read it", "err", err)
	}
	if err := broadcast.UseCDN(store); err != nil {
		return err
	}
	log.Info("hls media through the CDN", "cdn", cfg.HLSCDNURL, "store", store.Location(hls.MirrorPrefix))
	return nil
}
