package storage

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLitePragmas checks the settings that every SQLite connection must
// have, on the writer and on the reader.
func TestSQLitePragmas(t *testing.T) {
	// A name that means something in a URI: the DSN must escape it.
	path := filepath.Join(t.TempDir(), "a?b#c %d.db")
	d, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
	ctx := t.Context()

	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, pool := range []struct {
		name string
		db   *sql.DB
	}{{"writer", d.writer}, {"reader", d.reader}} {
		for _, tt := range tests {
			var got string
			if err := pool.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", pool.name, tt.pragma, err)
			}
			if !strings.EqualFold(got, tt.want) {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool.name, tt.pragma, got, tt.want)
			}
		}
	}

	if _, err := d.reader.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ('x', x'00')`); err == nil {
		t.Error("write through the reader succeeded; want query_only")
	}
	if got := d.reader.Stats().MaxOpenConnections; got != readerConns {
		t.Errorf("reader MaxOpenConnections = %d, want %d", got, readerConns)
	}
}
