package detect

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// sweepSite is three hours of five steady visitors plus what a case adds.
func sweepSite(seed uint64, extra func(add func(minute int, client, path string, status int))) *smallSite {
	rng := rand.New(rand.NewPCG(seed, 13))
	s := &smallSite{}
	add := func(minute int, client, path string, status int) {
		at := t0.Add(time.Duration(minute)*time.Minute + time.Duration(rng.Int64N(int64(time.Minute))))
		s.events = append(s.events, siteEvent{at: at, client: client, method: "GET", path: path, route: path, status: status})
	}
	pages := []string{"/", "/about", "/static/app.js", "/blog/post-1", "/blog/post-2"}
	for m := range 180 {
		for v := range 5 {
			for range 1 + rng.IntN(3) {
				add(m, fmt.Sprintf("192.0.2.%d", 10+v), pages[rng.IntN(len(pages))], 200)
			}
		}
	}
	extra(add)
	sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].at.Before(s.events[j].at) })
	return s
}

// TestSweeps: a slow scanner (eight new paths a minute for half an hour)
// and a short probe (fourteen paths in one minute) are scanning findings
// though no window reaches the scanning floor; visitors of a page whose
// images are gone, and a client whose 404s are its habit, are not.
func TestSweeps(t *testing.T) {
	t.Parallel()
	const who = "203.0.113.50"
	words := []string{"admin", "backup", "old", "test", "dev", "config", "db", "files", "tmp", "private"}
	for _, tt := range []struct {
		name  string
		extra func(add func(int, string, string, int))
		want  bool
	}{
		{"slow scanner", func(add func(int, string, string, int)) {
			for m := 60; m < 90; m++ {
				for i := range 8 {
					add(m, who, fmt.Sprintf("/%s/%s%d.html", words[i], words[(m+i)%10], m*10+i), 404)
				}
			}
		}, true},
		{"short probe", func(add func(int, string, string, int)) {
			for i := range 14 {
				add(120, who, fmt.Sprintf("/%s%d/", words[i%10], i), 404)
			}
		}, true},
		{"broken images", func(add func(int, string, string, int)) {
			for v := range 10 {
				c := fmt.Sprintf("198.18.0.%d", v+1)
				add(30+v*5, c, "/gallery", 200)
				for i := range 14 {
					add(30+v*5, c, fmt.Sprintf("/gallery/img%02d.JPG", i), 404)
				}
			}
			for i := range 14 { // the one the test names, too
				add(100, who, fmt.Sprintf("/gallery/img%02d.jpg", i), 404)
			}
		}, false},
		{"a habit of misses", func(add func(int, string, string, int)) {
			for m := range 60 {
				add(m, who, "/", 200)
				add(m, who, "/about", 200)
				add(m, who, "/blog/post-1", 200)
				add(m, who, fmt.Sprintf("/old/link-%d", 2*m), 404)
				add(m, who, fmt.Sprintf("/old/link-%d", 2*m+1), 404)
			}
			for m := 75; m < 78; m++ {
				for i := range 12 {
					add(m, who, fmt.Sprintf("/old/page-%d", m*100+i), 404)
				}
			}
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []Finding
			for _, f := range sweepSite(1, tt.extra).run(Options{}) {
				if f.Client == who || f.ClientKind != "ip" {
					got = append(got, f)
				}
			}
			if !tt.want {
				for _, f := range got {
					t.Errorf("unexpected %s finding: %s", f.Detector, f.Summary)
				}
				return
			}
			if len(got) == 0 {
				t.Fatal("not reported")
			}
			ids := map[string]bool{}
			for _, f := range got {
				ids[f.IncidentID] = true
				if f.Detector != DetectorScanning || f.Unit != "distinct 404/403 paths" || f.Why == "" {
					t.Errorf("%s finding in %q, why %q: %s", f.Detector, f.Unit, f.Why, f.Summary)
				}
			}
			if len(ids) != 1 {
				t.Errorf("%d incidents, want 1", len(ids))
			}
		})
	}
}

// TestIsAsset: what browsers fetch for a page, by extension.
func TestIsAsset(t *testing.T) {
	for path, want := range map[string]bool{
		"/img/a.png": true, "/A.JPG": true, "/s/site.css": true, "/app.min.js": true, "/f/x.woff2": true,
		"/favicon.ico": true, "/": false, "/admin": false, "/backup.zip": false, "/.env": false,
		"/x.php": false, "/a.js/": false, "/v1.2/users": false, "/wp-config.php.bak": false,
	} {
		if got := isAsset(path); got != want {
			t.Errorf("isAsset(%q) = %v, want %v", path, got, want)
		}
	}
}
