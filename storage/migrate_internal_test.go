package storage

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   []string
		want    []int // versions, in order
		wantErr bool
	}{
		{"sorted by number", []string{"0010_b.sql", "0002_a.sql", "0001_init.sql"}, []int{1, 2, 10}, false},
		{"empty", nil, nil, false},
		{"no number", []string{"init.sql"}, nil, true},
		{"no underscore", []string{"0001.sql"}, nil, true},
		{"zero", []string{"0000_init.sql"}, nil, true},
		{"not sql", []string{"0001_init.txt"}, nil, true},
		{"same version", []string{"0001_a.sql", "1_b.sql"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}
			for _, f := range tt.files {
				fsys["m/"+f] = file
			}
			ms, err := loadMigrations(fsys, "m")
			if tt.wantErr {
				if err == nil {
					t.Errorf("loaded %v, want an error", ms)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tt.want) {
				t.Fatalf("loaded %d migrations, want %d", len(ms), len(tt.want))
			}
			for i, m := range ms {
				if m.version != tt.want[i] || m.sql != "SELECT 1;" {
					t.Errorf("migration %d = %+v, want version %d", i, m, tt.want[i])
				}
			}
		})
	}
}

// TestEmbeddedMigrations checks that both backends' schemas have the same
// versions, 1..n in order.
func TestEmbeddedMigrations(t *testing.T) {
	sqlite, err := loadMigrations(migrationFiles, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := loadMigrations(migrationFiles, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(sqlite) == 0 || len(sqlite) != len(postgres) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(sqlite), len(postgres))
	}
	for i := range sqlite {
		if sqlite[i].version != postgres[i].version || sqlite[i].version != i+1 {
			t.Errorf("migration %d: versions %d (SQLite) and %d (PostgreSQL), want %d in both",
				i, sqlite[i].version, postgres[i].version, i+1)
		}
	}
}
