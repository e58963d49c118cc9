// Package browser drives a headless Chromium (Debian's chromium package)
// over the DevTools protocol with chromedp, for the dashboard's browser
// tests and for `make screenshots`. Nothing of it is in the vigil binary.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium is returned when no Chromium binary is found.
var ErrNoChromium = errors.New("no chromium found: install Debian's chromium package (make test-deps) or set CHROMIUM=/path/to/chromium")

// Find returns the Chromium binary: $CHROMIUM, else chromium,
// chromium-browser, google-chrome on the PATH, else Debian's
// /usr/bin/chromium.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", ErrNoChromium
}

// Start starts a headless Chromium with a window of width x height and
// returns a browser context (a first tab) and the function that closes
// it.
func Start(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	bin, err := Find()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.WindowSize(width, height),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("font-render-hinting", "none"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // launches the browser
		cancelBrowser()
		cancelAlloc()
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return bctx, func() { cancelBrowser(); cancelAlloc() }, nil
}

// Login opens /login of base and logs in; it fails unless the browser
// lands on a page of the dashboard.
func Login(ctx context.Context, base, user, password string) error {
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("header.top")),
	)
	if err != nil {
		return fmt.Errorf("log in as %s: %w", user, err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Errorf("log in as %s: %w", user, err)
	}
	if strings.Contains(url, "/login") {
		return fmt.Errorf("log in as %s: still on %s", user, url)
	}
	return nil
}

// AcceptDialogs makes the page's confirm() answer yes, as a person
// clicking OK would; call it after each navigation.
var AcceptDialogs = chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`)

// Screenshot loads url and writes a PNG of the page: the viewport
// (full=false) or the whole page.
func Screenshot(ctx context.Context, url, file string, full bool) error {
	err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("footer")),
		chromedp.Sleep(200*time.Millisecond), // fonts and the live badge
	)
	if err != nil {
		return fmt.Errorf("screenshot of %s: %w", url, err)
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		return fmt.Errorf("screenshot of %s: %w", url, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}
