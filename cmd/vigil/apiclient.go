package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// apiClient talks to the HTTP API of a running vigil, for the commands
// that take --server. A server with users configured wants an API token
// (`vigil web token`); it is read from $VIGIL_TOKEN so that it never
// appears on a command line or in shell history.
type apiClient struct {
	server string
	token  string
}

func newAPIClient(server string) apiClient {
	return apiClient{server: server, token: os.Getenv("VIGIL_TOKEN")}
}

// maxAnswer bounds what is read of one answer (a CSV of every device of a
// large hospital fits).
const maxAnswer = 256 << 20

// request sends one request and returns the response, whatever its status.
func (c apiClient) request(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u, err := url.Parse(strings.TrimSuffix(c.server, "/") + path)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want a URL like http://127.0.0.1:8080", c.server)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vigil at %s: %w", c.server, err)
	}
	return resp, nil
}

// do sends one request and returns the answer's body and status.
func (c apiClient) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) ([]byte, int, error) {
	resp, err := c.request(ctx, method, path, q, body, contentType)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, fmt.Errorf("vigil at %s: %w", c.server, err)
	}
	return data, resp.StatusCode, nil
}

// json sends one request and decodes a 200 answer into out; any other
// status becomes an error carrying the API's own message.
func (c apiClient) json(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string, out any) error {
	data, status, err := c.do(ctx, method, path, q, body, contentType)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return c.fail(status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vigil at %s: unexpected answer to %s: %w", c.server, path, err)
	}
	return nil
}

// fail is the error of a refused request: the API's {"error": ...} when
// it sent one, else the status and the start of the body.
func (c apiClient) fail(status int, body []byte) error {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("vigil at %s: %s (%d %s)", c.server, e.Error, status, http.StatusText(status))
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		return fmt.Errorf("vigil at %s: %d %s", c.server, status, http.StatusText(status))
	}
	return fmt.Errorf("vigil at %s: %d %s: %s", c.server, status, http.StatusText(status), msg)
}
