// Package webui holds Lectern's browser pages, embedded in the binary: plain
// HTML, CSS and JavaScript modules under static/, with no build step.
package webui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// Handler serves the embedded pages and their assets by path.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}

// Page serves the embedded HTML file name (such as "admin.html") for any
// request path, so that routes like /admin and /room/{room} map to one file.
// It panics if the file is not embedded: the tree is fixed at build time.
func Page(name string) http.Handler {
	data, err := static.ReadFile("static/" + name)
	if err != nil {
		panic("webui: no page " + name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// A new binary may bring new pages: browsers revalidate instead of
		// guessing a lifetime.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}
