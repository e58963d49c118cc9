package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A blocklist feed is polled by firewalls that have no dashboard session:
// it is served outside the login, with its own authentication, while
// every dashboard route stays behind it.
func TestFeedsAreServedOutsideTheLogin(t *testing.T) {
	feed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != "firewall-pw" {
			http.Error(w, "feed credentials", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "10.0.0.9\n")
	})
	c, err := New(Configuration{Listen: "127.0.0.1:0", Auth: AuthConfiguration{Users: testUsers(t), SessionTTL: time.Hour}},
		Dependencies{Feeds: []Feed{{Path: "/edl/", Handler: feed}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/edl/plain.txt", nil)
	req.SetBasicAuth("pa-1", "firewall-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "10.0.0.9\n" {
		t.Errorf("feed with its credentials: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(srv.URL + "/edl/plain.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("feed without credentials: %d, want the feed's own 401", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/api/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard API without a session: %d, want 401", resp.StatusCode)
	}
}

func TestFeedMayNotShadowTheDashboard(t *testing.T) {
	_, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{Feeds: []Feed{{Path: "/api/v1/", Handler: http.NotFoundHandler()}}})
	if err == nil || !strings.Contains(err.Error(), "would shadow") {
		t.Fatalf("feed on /api/v1/: %v", err)
	}
}
