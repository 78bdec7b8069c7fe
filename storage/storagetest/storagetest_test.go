package storagetest

import (
	"context"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// recorder is a testing.TB that records how a helper ended instead of
// ending the real test. Run the helper in a goroutine: Fatalf and Skipf end
// that goroutine, as they would a test.
type recorder struct {
	testing.TB
	fatal, skipped bool
	cleanups       []func()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = true
	r.Logf("Fatalf: "+format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	r.Logf("Skipf: "+format, args...)
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// run calls fn with a recorder in a goroutine of its own and returns the
// recorder once fn returns or ends it.
func run(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestPostgresURLWithoutServer(t *testing.T) {
	tests := []struct {
		ci                     string
		wantFatal, wantSkipped bool
	}{
		{ci: "", wantSkipped: true},
		{ci: "false", wantSkipped: true},
		{ci: "true", wantFatal: true},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv(EnvDatabaseURL, "")
			t.Setenv("CI", tt.ci)
			r := run(t, func(tb testing.TB) { PostgresURL(tb) })
			if r.fatal != tt.wantFatal || r.skipped != tt.wantSkipped {
				t.Errorf("fatal=%v skipped=%v, want fatal=%v skipped=%v", r.fatal, r.skipped, tt.wantFatal, tt.wantSkipped)
			}
		})
	}
}

// TestPostgresURL checks that the database exists, is empty, and is gone
// after cleanup even with a connection still open.
func TestPostgresURL(t *testing.T) {
	if os.Getenv(EnvDatabaseURL) == "" {
		PostgresURL(t) // skips, or fails under CI, as the suites do
	}
	var dbURL string
	r := run(t, func(tb testing.TB) { dbURL = PostgresURL(tb) })
	if r.fatal || r.skipped || len(r.cleanups) != 1 {
		t.Fatalf("fatal=%v skipped=%v cleanups=%d", r.fatal, r.skipped, len(r.cleanups))
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(name, "lectern_test_") {
		t.Errorf("database name %q lacks the lectern_test_ prefix", name)
	}

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("new database has %d tables", tables)
	}

	r.cleanups[0]() // drops it despite conn
	admin, err := pgx.Connect(ctx, os.Getenv(EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after cleanup", name)
	}
}
