package feed

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

type providerMetadata struct {
	CanonicalURL  string `json:"canonical_url"`
	Distributions []struct {
		DirectoryURL string `json:"directory_url"`
		ROLIE        *struct {
			Feeds []struct {
				Summary  string `json:"summary"`
				TLPLabel string `json:"tlp_label"`
				URL      string `json:"url"`
			} `json:"feeds"`
		} `json:"rolie"`
	} `json:"distributions"`
	LastUpdated         string `json:"last_updated"`
	ListOnAggregators   *bool  `json:"list_on_CSAF_aggregators"`
	MetadataVersion     string `json:"metadata_version"`
	MirrorOnAggregators *bool  `json:"mirror_on_CSAF_aggregators"`
	Publisher           *struct {
		Category  string `json:"category"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"publisher"`
	Role string `json:"role"`
}

type rolieFeed struct {
	Feed *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Entry []struct {
			ID   string `json:"id"`
			Link []struct {
				Rel  string `json:"rel"`
				Href string `json:"href"`
			} `json:"link"`
			Content *struct {
				Src string `json:"src"`
			} `json:"content"`
		} `json:"entry"`
	} `json:"feed"`
}

// DiscoveredFile is an advisory file that discovery led to.
type DiscoveredFile struct {
	// URL is where the provider publishes it; Path the mirrored file.
	URL  string `json:"url"`
	Path string `json:"path"`
	// TLP is the label of the ROLIE feed that listed it.
	TLP string `json:"tlp,omitempty"`
}

// Discovery is what a provider's metadata leads to in a local mirror.
type Discovery struct {
	Publisher string           `json:"publisher"`
	Role      string           `json:"role"`
	Files     []DiscoveredFile `json:"files"`
	// Errors are feeds or directories that could not be read; the files
	// found elsewhere are still listed.
	Errors   []error   `json:"-"`
	Warnings []Problem `json:"warnings,omitempty"`
}

// mirror maps the provider's URLs to files: the metadata file sits in a
// copy of the provider's web tree, either whole (".../.well-known/csaf/
// provider-metadata.json" under a root standing for the host) or from the
// metadata's own directory down.
type mirror struct {
	host, prefix, dir string
}

func newMirror(metadataPath string, canonical *url.URL) mirror {
	dir := filepath.Dir(metadataPath)
	canonDir := path.Dir(path.Clean("/" + canonical.Path))
	local := filepath.FromSlash(canonDir)
	if canonDir != "/" && strings.HasSuffix(dir, local) {
		return mirror{host: canonical.Host, prefix: "/", dir: strings.TrimSuffix(dir, local)}
	}
	return mirror{host: canonical.Host, prefix: canonDir, dir: dir}
}

// local returns the mirrored file of a URL (absolute, or relative to the
// canonical URL).
func (m mirror) local(base *url.URL, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", raw, err)
	}
	u = base.ResolveReference(u)
	if u.Host != m.host {
		return "", fmt.Errorf("%s is on another host than the provider metadata (%s): not in this mirror", u, m.host)
	}
	p := path.Clean("/" + u.Path)
	rel, ok := strings.CutPrefix(p, m.prefix)
	if !ok {
		return "", fmt.Errorf("%s is outside %s, the part of the site mirrored at %s", u, m.prefix, m.dir)
	}
	return filepath.Join(m.dir, filepath.FromSlash(strings.TrimPrefix(rel, "/"))), nil
}

// DiscoverProvider reads a CSAF provider-metadata.json from a local
// mirror of the provider's site and lists the advisories its
// distributions lead to: the entries of its ROLIE feeds, or the files of
// its directories (their index.txt, else changes.csv, else every .json).
// The metadata must be valid (error otherwise); a feed or directory that
// cannot be read is listed in Discovery.Errors.
func DiscoverProvider(metadataPath string) (*Discovery, error) {
	data, err := readFile(metadataPath, 0)
	if err != nil {
		return nil, err
	}
	c := &checker{}
	var pm providerMetadata
	if p := decodeJSON(data, &pm); p != nil {
		c.add(*p)
		return nil, c.err(metadataPath, FormatCSAFProvider)
	}
	canonical, err := url.Parse(pm.CanonicalURL)
	if c.required("$.canonical_url", pm.CanonicalURL) && (err != nil || canonical.Scheme != "https" || canonical.Host == "") {
		c.errorf("$.canonical_url", "%q is not an https URL", pm.CanonicalURL)
	} else if err == nil && !strings.HasSuffix(canonical.Path, "/provider-metadata.json") {
		c.warnf("$.canonical_url", "%q does not end with /provider-metadata.json", pm.CanonicalURL)
	}
	c.timeField("$.last_updated", pm.LastUpdated)
	if pm.ListOnAggregators == nil {
		c.errorf("$.list_on_CSAF_aggregators", "missing")
	}
	if pm.MirrorOnAggregators == nil {
		c.errorf("$.mirror_on_CSAF_aggregators", "missing")
	}
	if pm.MetadataVersion != "2.0" {
		c.errorf("$.metadata_version", "is %q, want \"2.0\"", pm.MetadataVersion)
	}
	roles := []string{"csaf_publisher", "csaf_provider", "csaf_trusted_provider"}
	if !slices.Contains(roles, pm.Role) {
		c.errorf("$.role", "is %q, want one of %s", pm.Role, strings.Join(roles, ", "))
	}
	d := &Discovery{Role: pm.Role}
	if p := pm.Publisher; p == nil {
		c.errorf("$.publisher", "missing")
	} else {
		d.Publisher = p.Name
		c.required("$.publisher.name", p.Name)
		c.required("$.publisher.namespace", p.Namespace)
		c.required("$.publisher.category", p.Category)
	}
	for i, dist := range pm.Distributions {
		dp := idx("$.distributions", i)
		if dist.DirectoryURL == "" && dist.ROLIE == nil {
			c.errorf(dp, "has neither directory_url nor rolie")
		}
		if dist.ROLIE != nil {
			for j, f := range dist.ROLIE.Feeds {
				c.required(idx(dp+".rolie.feeds", j)+".url", f.URL)
				c.required(idx(dp+".rolie.feeds", j)+".tlp_label", f.TLPLabel)
			}
		}
	}
	if len(pm.Distributions) == 0 {
		c.warnf("$.distributions", "missing: the provider says where no advisory is")
	}
	if err := c.err(metadataPath, FormatCSAFProvider); err != nil {
		return nil, err
	}
	d.Warnings = c.warns
	m := newMirror(metadataPath, canonical)
	seen := map[string]bool{}
	add := func(f DiscoveredFile) {
		if !seen[f.Path] {
			seen[f.Path] = true
			d.Files = append(d.Files, f)
		}
	}
	for _, dist := range pm.Distributions {
		if dist.ROLIE != nil {
			for _, feed := range dist.ROLIE.Feeds {
				files, err := readROLIE(m, canonical, feed.URL, feed.TLPLabel)
				if err != nil {
					d.Errors = append(d.Errors, err)
				}
				for _, f := range files {
					add(f)
				}
			}
		}
		if dist.DirectoryURL != "" {
			files, err := readDirectory(m, canonical, dist.DirectoryURL)
			if err != nil {
				d.Errors = append(d.Errors, err)
			}
			for _, f := range files {
				add(f)
			}
		}
	}
	return d, nil
}

func readROLIE(m mirror, base *url.URL, feedURL, tlp string) ([]DiscoveredFile, error) {
	p, err := m.local(base, feedURL)
	if err != nil {
		return nil, fmt.Errorf("ROLIE feed: %w", err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("ROLIE feed %s: not mirrored: %w", feedURL, err)
	}
	c := &checker{}
	var rf rolieFeed
	if pr := decodeJSON(data, &rf); pr != nil {
		c.add(*pr)
		return nil, c.err(p, "ROLIE feed")
	}
	if rf.Feed == nil {
		c.errorf("$.feed", "missing")
		return nil, c.err(p, "ROLIE feed")
	}
	feedBase, _ := url.Parse(feedURL)
	feedBase = base.ResolveReference(feedBase)
	var out []DiscoveredFile
	var errs []error
	for i, e := range rf.Feed.Entry {
		ep := idx("$.feed.entry", i)
		href := ""
		if e.Content != nil {
			href = e.Content.Src
		}
		for _, l := range e.Link {
			if href == "" && l.Rel == "self" {
				href = l.Href
			}
		}
		if href == "" {
			c.errorf(ep, "names no advisory: neither content.src nor a self link")
			continue
		}
		lp, err := m.local(feedBase, href)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", p, ep, err))
			continue
		}
		out = append(out, DiscoveredFile{URL: href, Path: lp, TLP: tlp})
	}
	if err := c.err(p, "ROLIE feed"); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func readDirectory(m mirror, base *url.URL, dirURL string) ([]DiscoveredFile, error) {
	if !strings.HasSuffix(dirURL, "/") {
		dirURL += "/"
	}
	dirBase, err := url.Parse(dirURL)
	if err != nil {
		return nil, fmt.Errorf("directory_url %q: %w", dirURL, err)
	}
	dirBase = base.ResolveReference(dirBase)
	dir, err := m.local(base, dirURL)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	var rels []string
	if data, err := os.ReadFile(filepath.Join(dir, "index.txt")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				rels = append(rels, l)
			}
		}
	} else if data, err := os.ReadFile(filepath.Join(dir, "changes.csv")); err == nil {
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "changes.csv"), err)
		}
		for _, r := range recs {
			if len(r) > 0 && r[0] != "" {
				rels = append(rels, r[0])
			}
		}
	} else {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, "provider-metadata.json") {
				rel, _ := filepath.Rel(dir, p)
				rels = append(rels, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("directory %s: not mirrored: %w", dirURL, err)
		}
	}
	var out []DiscoveredFile
	var errs []error
	for _, rel := range rels {
		lp, err := m.local(dirBase, rel)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u, _ := url.Parse(rel)
		out = append(out, DiscoveredFile{URL: dirBase.ResolveReference(u).String(), Path: lp})
	}
	return out, errors.Join(errs...)
}

// ProviderResult is the outcome of importing a provider's advisories.
type ProviderResult struct {
	Discovery *Discovery
	// Imported are the results of the files imported; Failed the errors
	// of those that were not (each file is imported whole or not at
	// all).
	Imported []Result
	Failed   []error
}

// ImportProvider discovers a provider's advisories in a local mirror and
// imports each, checking it against its .sha512 or .sha256 file when the
// mirror has one. It fails only when the metadata itself is invalid.
func (im *Importer) ImportProvider(metadataPath string, opt Options) (ProviderResult, error) {
	d, err := DiscoverProvider(metadataPath)
	if err != nil {
		return ProviderResult{}, err
	}
	res := ProviderResult{Discovery: d, Failed: slices.Clone(d.Errors)}
	for _, f := range d.Files {
		if err := checkHashFile(f.Path); err != nil {
			res.Failed = append(res.Failed, err)
			continue
		}
		r, err := im.ImportFile(f.Path, opt)
		if err != nil {
			res.Failed = append(res.Failed, err)
			continue
		}
		res.Imported = append(res.Imported, r)
	}
	return res, nil
}

// checkHashFile verifies a file against its CSAF hash file (file.sha512
// or file.sha256: the hex digest, maybe followed by the file name).
func checkHashFile(p string) error {
	for _, h := range []struct {
		ext string
		new func() hash.Hash
	}{{".sha512", sha512.New}, {".sha256", sha256.New}} {
		want, err := os.ReadFile(p + h.ext)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hash file: %w", err)
		}
		fields := strings.Fields(string(want))
		if len(fields) == 0 {
			return &Error{File: p + h.ext, Problems: []Problem{{Msg: "empty hash file"}}}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		sum := h.new()
		sum.Write(data)
		if got := hex.EncodeToString(sum.Sum(nil)); !strings.EqualFold(got, fields[0]) {
			return &Error{File: p, Format: FormatCSAF, Problems: []Problem{{
				Msg: fmt.Sprintf("its %s digest %s is not %s from %s: the file is damaged or was altered", strings.TrimPrefix(h.ext, "."), got, fields[0], filepath.Base(p+h.ext))}}}
		}
		return nil
	}
	return nil
}
