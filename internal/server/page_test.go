package server

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestPage serves the page with and without a token: public, with its
// security headers and validators, and saying whether the API needs the
// token. The browser test (cmd/xflow TestPageEndToEnd) uses it for real.
func TestPage(t *testing.T) {
	for _, token := range []string{"", testToken} {
		ts := httptest.NewServer(New(Options{Config: testConfig(""), Backend: &fakeBackend{}, Token: token, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
		defer ts.Close()
		get := func(method, path string, headers ...string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest(method, ts.URL+path, nil)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		auth := map[string]string{"": `data-auth="none"`, testToken: `data-auth="token"`}[token]
		for _, tc := range []struct {
			path, contentType, want string
		}{
			{"/", "text/html; charset=utf-8", auth},
			{"/assets/app.js", "text/javascript; charset=utf-8", "'use strict'"},
			{"/assets/app.css", "text/css; charset=utf-8", ":focus-visible"},
			{"/assets/favicon.svg", "image/svg+xml", "<svg"},
		} {
			resp, body := get("GET", tc.path)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(body, tc.want) {
				t.Errorf("token %q: GET %s: %d %q, body lacks %q", token, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want)
			}
			for h, want := range map[string]string{
				"Content-Security-Policy": contentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-cache",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("GET %s: %s %q, want %q", tc.path, h, got, want)
				}
			}
			etag := resp.Header.Get("ETag")
			if resp, _ := get("GET", tc.path, "If-None-Match", etag); etag == "" || resp.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s again with its ETag %q: %d, want 304", tc.path, etag, resp.StatusCode)
			}
			if resp, body := get("HEAD", tc.path); resp.StatusCode != 200 || body != "" {
				t.Errorf("HEAD %s: %d %q", tc.path, resp.StatusCode, body)
			}
		}
		if !strings.HasPrefix(contentSecurityPolicy, "default-src 'self';") {
			t.Errorf("the CSP does not start with default-src 'self': %s", contentSecurityPolicy)
		}
	}
}

// TestPageAssets checks the page's files for what its CSP would refuse or
// what would leave the machine: inline scripts, styles and event handlers,
// and references to other hosts. The page builds its DOM with textContent,
// never innerHTML, since events carry user data.
func TestPageAssets(t *testing.T) {
	inlineHandler := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	inlineScript := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`)
	styleAttr := regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=|<style`)
	otherHost := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	var files int
	err := fs.WalkDir(webFS, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := webFS.ReadFile(name)
		if err != nil {
			return err
		}
		text := string(b)
		if strings.HasSuffix(name, ".html") {
			for what, re := range map[string]*regexp.Regexp{"an inline event handler": inlineHandler, "an inline script": inlineScript, "an inline style": styleAttr} {
				if m := re.FindString(text); m != "" {
					t.Errorf("%s has %s: %s", name, what, m)
				}
			}
		}
		// The SVG namespace is a name, not a request.
		for _, m := range otherHost.FindAllString(strings.ReplaceAll(text, `xmlns="http://www.w3.org/2000/svg"`, ""), -1) {
			t.Errorf("%s refers to another host: %s", name, m)
		}
		if strings.HasSuffix(name, ".js") {
			for _, bad := range []string{".innerHTML", "outerHTML =", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", ".style."} {
				if strings.Contains(text, bad) {
					t.Errorf("%s uses %s", name, bad)
				}
			}
		}
		return nil
	})
	if err != nil || files < 4 {
		t.Fatalf("the page's files: %d (%v)", files, err)
	}
}
