package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The tracking page: plain HTML, CSS and JavaScript in web/, embedded in
// the binary, no build step, nothing fetched from elsewhere at run time.
// It reads the JSON routes of this API like any other client, with the
// bearer token the user gives it.
//
//go:embed web
var webFS embed.FS

// contentSecurityPolicy lets the page load its own assets and call its own
// API, nothing else: no inline script or style, no other origin, no
// framing.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

// authMarker in index.html is replaced by whether the API needs a token,
// so that the page asks for it before its first call rather than after a
// 401.
const authMarker = "{{auth}}"

// asset is one file of the page, with its validator.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// page serves the tracking page.
type page struct {
	html   asset            // index.html
	assets map[string]asset // by name under web/assets
}

func newPage(tokenRequired bool) *page {
	p := &page{assets: map[string]asset{}}
	html, err := webFS.ReadFile("web/index.html")
	if err != nil {
		panic("server: the embedded page has no index.html: " + err.Error())
	}
	auth := "none"
	if tokenRequired {
		auth = "token"
	}
	p.html = newAsset("index.html", bytes.ReplaceAll(html, []byte(authMarker), []byte(auth)))
	err = fs.WalkDir(webFS, "web/assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(name)
		if err != nil {
			return err
		}
		p.assets[path.Base(name)] = newAsset(name, b)
		return nil
	})
	if err != nil {
		panic("server: read the embedded page: " + err.Error())
	}
	return p
}

func newAsset(name string, b []byte) asset {
	sum := sha256.Sum256(b)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	// The machine's MIME table may lack a charset or know .js as
	// something else; the page's files are UTF-8.
	switch path.Ext(name) {
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	return asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// index serves GET /: the page. Its data comes from the JSON routes,
// which need the token; the page itself holds none and needs none.
func (p *page) index(w http.ResponseWriter, r *http.Request) error {
	p.serve(w, r, p.html)
	return nil
}

// asset serves GET /assets/{name}.
func (p *page) asset(w http.ResponseWriter, r *http.Request) error {
	a, ok := p.assets[r.PathValue("name")]
	if !ok {
		return errorf(http.StatusNotFound, codeNotFound, "", "the page has no asset %q", r.PathValue("name"))
	}
	p.serve(w, r, a)
	return nil
}

// serve writes an asset with the page's security headers; the browser
// revalidates it each time (cheap: an ETag), so an upgraded server is
// never shown with stale assets.
func (p *page) serve(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
