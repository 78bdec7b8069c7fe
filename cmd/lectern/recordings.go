package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"lectern/hls/record"
	"lectern/program"
	"lectern/storage"
	"lectern/storage/objstore"
)

// newRecorder builds the recorder on the configured object store (MinIO/S3
// with s3_endpoint, otherwise <data_dir>/recordings), spooling under
// <data_dir>/spool, and resumes the uploads an earlier run left there.
func newRecorder(ctx context.Context, cfg config, db *storage.DB, progs *program.Set, secret []byte, log *slog.Logger) (*record.Recorder, error) {
	var store objstore.Store
	var err error
	if cfg.S3.Endpoint != "" {
		store, err = objstore.NewS3(objstore.S3Config{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, UseSSL: cfg.S3.UseSSL, PublicURL: cfg.S3.PublicURL})
	} else {
		store, err = objstore.NewLocal(filepath.Join(cfg.DataDir, "recordings"))
	}
	if err != nil {
		return nil, err
	}
	rcfg := record.DefaultConfig(filepath.Join(cfg.DataDir, "spool"))
	if cfg.Cluster.Enabled {
		// A recording outlives its node: the cluster's surviving nodes
		// continue or finish it (docs/hls.md).
		if rcfg.NodeID, err = nodeID(cfg.Cluster.NodeID, cfg.DataDir); err != nil {
			return nil, err
		}
		rcfg.DeadAfter, rcfg.AdoptWindow = 3*cfg.Cluster.Heartbeat, cfg.Cluster.RecordingResumeWindow
	}
	rec, err := record.New(rcfg,
		record.Deps{DB: db, Store: store, HLS: progs, Secret: secret, Log: log})
	if err != nil {
		return nil, err
	}
	log.Info("recordings", "store", store.Location(""))
	if err := rec.Resume(ctx); err != nil {
		return nil, err
	}
	return rec, nil
}

// stopRecorder finishes the recordings in progress and gives their uploads
// until ctx ends; what is left stays in the spool for the next start.
func stopRecorder(ctx context.Context, rec *record.Recorder, log *slog.Logger) {
	if err := rec.Shutdown(ctx); err != nil {
		log.Warn("recordings left in the spool for the next start", "err", err)
	}
}
