package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

func TestServesProjections(t *testing.T) {
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, Dependencies{
		Devices: func() any { return []map[string]string{{"mac": "00:12:21:4e:0a:12"}} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + c.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/api/v1/devices")
	var devs []map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &devs) != nil || devs[0]["mac"] != "00:12:21:4e:0a:12" {
		t.Errorf("devices: %d %s", code, body)
	}
	if code, _ := get("/api/v1/status"); code != http.StatusNotFound {
		t.Errorf("status without a source: %d, want 404", code)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
}
