package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Local keeps objects as files under a directory, a key's slashes making
// subdirectories. It has no mutable state of its own.
type Local struct {
	root string
}

// NewLocal returns the store rooted at dir, which is created (mode 0700) if missing.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("objstore: create %s: %w", abs, err)
	}
	return &Local{root: abs}, nil
}

func (l *Local) path(key string) string { return filepath.Join(l.root, filepath.FromSlash(key)) }

// Put implements Store: the content is written to a temporary file beside
// the target, synced, then renamed over it.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

// Open implements Store.
func (l *Local) Open(ctx context.Context, key string) (*Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("objstore: open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("objstore: open %s: %w", key, ErrNotFound)
	}
	return &Object{ReadCloser: f, Size: st.Size()}, nil
}

// List implements Store.
func (l *Local) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk the deepest directory the prefix names; filter by the full prefix.
	dir := l.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = l.path(prefix[:i])
	}
	keys := []string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %s: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// DeletePrefix implements Store; directories left empty are removed.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := l.List(ctx, prefix)
	if err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, k := range keys {
		if err := os.Remove(l.path(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("objstore: delete %s: %w", k, err)
		}
		for d := filepath.Dir(l.path(k)); d != l.root && strings.HasPrefix(d, l.root); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	// Deepest first; a directory that still holds something stays.
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, d := range sorted {
		os.Remove(d)
	}
	return nil
}

// Location implements Store.
func (l *Local) Location(key string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(l.path(key))}).String()
}
