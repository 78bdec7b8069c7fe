// Package storagetest runs tests against every storage backend: SQLite in a
// temporary directory and PostgreSQL in a fresh database per test.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"lectern/storage"
)

// EnvDatabaseURL names the environment variable holding the URL of the
// PostgreSQL server that tests create their databases on.
const EnvDatabaseURL = "LECTERN_TEST_DATABASE_URL"

// adminTimeout bounds creating and dropping a test database.
const adminTimeout = 30 * time.Second

// PostgresURL returns the URL of a new empty database created on the server
// named by LECTERN_TEST_DATABASE_URL (such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) and dropped,
// with any connections still open, at cleanup. When the variable is unset it
// skips the test, except under CI=true, where it fails it: CI must never skip
// the PostgreSQL suite.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvDatabaseURL)
	if server == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the PostgreSQL tests", EnvDatabaseURL)
		}
		t.Skipf("%s is not set", EnvDatabaseURL)
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL is not printed: it may hold a password.
		t.Fatalf("%s is not a postgres:// URL", EnvDatabaseURL)
	}
	name := "lectern_test_" + hex.EncodeToString(randomBytes(8))

	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := admin(ctx, server, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("storagetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Not t.Context(): it is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := admin(ctx, server, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("storagetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on a connection of its own to the server's
// maintenance database.
func admin(ctx context.Context, serverURL, stmt string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return b
}

// Backend names one configuration to run a test against: the arguments of
// storage.Open.
type Backend struct {
	Name        string
	DatabaseURL string
	DataDir     string
}

// Each runs fn as one subtest per backend: "sqlite" (no URL, a temporary data
// directory) and "postgres" (a fresh database from PostgresURL, and a
// temporary data directory).
func Each(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Backend{Name: "sqlite", DataDir: t.TempDir()})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Backend{Name: "postgres", DatabaseURL: PostgresURL(t), DataDir: t.TempDir()})
	})
}

// Open opens b with storage.Open and closes it at cleanup.
func Open(t testing.TB, b Backend) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), b.DatabaseURL, b.DataDir)
	if err != nil {
		t.Fatalf("storagetest: open %s: %v", b.Name, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storagetest: close %s: %v", b.Name, err)
		}
	})
	return db
}
