package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func start(t *testing.T, deps Dependencies) func(path string, header ...string) (int, string) {
	t.Helper()
	c, err := New(Configuration{Listen: "127.0.0.1:0"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return func(path string, header ...string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+c.Addr()+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

func TestServesProjections(t *testing.T) {
	get := start(t, Dependencies{
		Devices: func(q url.Values) (any, error) {
			if q.Get("vlan") == "x" {
				return nil, errors.New(`vlan="x": want a number`)
			}
			return []map[string]string{{"mac": "00:12:21:4e:0a:12", "q": q.Get("category")}}, nil
		},
		DevicesCSV: func(q url.Values, w io.Writer) error {
			_, err := io.WriteString(w, "id,mac\ndev-1,00:12:21:4e:0a:12\n")
			return err
		},
		Device: func(id string) (any, bool) { return map[string]string{"id": id}, id == "dev-1" },
	})
	code, body := get("/api/v1/devices?category=infusion_pump")
	var devs []map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &devs) != nil || devs[0]["mac"] != "00:12:21:4e:0a:12" || devs[0]["q"] != "infusion_pump" {
		t.Errorf("devices: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices?vlan=x"); code != 400 || !strings.Contains(body, `"error": "vlan=\"x\": want a number"`) {
		t.Errorf("bad filter: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices?format=csv"); code != 200 || !strings.HasPrefix(body, "id,mac\n") {
		t.Errorf("csv: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices", "Accept", "text/csv"); code != 200 || !strings.HasPrefix(body, "id,mac\n") {
		t.Errorf("csv by Accept: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices/dev-1"); code != 200 || !strings.Contains(body, `"id": "dev-1"`) {
		t.Errorf("device: %d %s", code, body)
	}
	if code, body := get("/api/v1/devices/dev-2"); code != 404 || !strings.Contains(body, `no device \"dev-2\"`) {
		t.Errorf("missing device: %d %s", code, body)
	}
	if code, _ := get("/api/v1/status"); code != http.StatusNotFound {
		t.Errorf("status without a source: %d, want 404", code)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
}
