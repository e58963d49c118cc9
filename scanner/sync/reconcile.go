// Package sync keeps an InsightVM console in step with Vigil's inventory,
// by device identity: each managed site's excluded targets are the
// current addresses of the medical devices (plus configured extras),
// followed when DHCP moves a device, read back after every change and
// repaired when someone else changed them (drift). It also pushes the
// medical devices and their clinical vulnerabilities to the console as
// tags, imports the console's findings for the other devices, and watches
// the flows for a scan engine touching an excluded device.
//
// The Reconciler is the pure step (inventory + console in, changes and a
// report out); the Component runs it on device changes and on a timer.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/scanner"
	"github.com/vigil-health/vigil/scanner/insightvm"
)

// Console is what the reconciler needs of an InsightVM console
// (*insightvm.Client implements it).
type Console interface {
	Sites(ctx context.Context) ([]insightvm.Site, error)
	ExcludedTargets(ctx context.Context, site int) ([]string, error)
	SetExcludedTargets(ctx context.Context, site int, addrs []string) error
	AddExcludedTargets(ctx context.Context, site int, addrs []string) error
	RemoveExcludedTargets(ctx context.Context, site int, addrs []string) error
	Assets(ctx context.Context) ([]insightvm.Asset, error)
	AssetVulnerabilities(ctx context.Context, asset int64) ([]insightvm.VulnerabilityFinding, error)
	Vulnerability(ctx context.Context, id string) (insightvm.Vulnerability, error)
	Tags(ctx context.Context, name string) ([]insightvm.Tag, error)
	CreateTag(ctx context.Context, t insightvm.Tag) (int, error)
	TagAssets(ctx context.Context, tag int) ([]int64, error)
	TagAsset(ctx context.Context, asset int64, tag int) error
	UntagAsset(ctx context.Context, asset int64, tag int) error
}

var _ Console = (*insightvm.Client)(nil)

// Drift is a difference between what Vigil left on the console and what
// the console holds now.
type Drift struct {
	Site    string `json:"site"`
	Address string `json:"address"`
	// Kind is missing (an exclusion Vigil keeps was removed outside
	// Vigil: the device could be scanned) or foreign (with own_list, an
	// exclusion Vigil does not know was added).
	Kind     string `json:"kind"`
	DeviceID string `json:"device_id,omitempty"`
	Repaired bool   `json:"repaired"`
}

// SiteResult is what one sync did to one site.
type SiteResult struct {
	ID      int      `json:"id"`
	Name    string   `json:"name"`
	Desired []string `json:"desired"`
	Before  []string `json:"before"`
	After   []string `json:"after,omitempty"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Deferred are removals held back while the inventory was not yet
	// complete (add-only sync).
	Deferred []string `json:"deferred,omitempty"`
	Drift    []Drift  `json:"drift,omitempty"`
	// Verified is true when the read-back after the change held exactly
	// what was intended.
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
}

// TagResult is what one sync did to the tags.
type TagResult struct {
	Created    []string `json:"created,omitempty"`
	Assigned   int      `json:"assigned"`
	Unassigned int      `json:"unassigned"`
	// MedicalAssets are the console's assets matched to medical devices
	// (tagged); MedicalNotInConsole the medical devices the console has no
	// asset for (nothing to tag; their addresses are excluded anyway).
	MedicalAssets       int    `json:"medical_assets"`
	MedicalNotInConsole int    `json:"medical_not_in_console"`
	Error               string `json:"error,omitempty"`
}

// FindingsResult is what one sync imported.
type FindingsResult struct {
	Assets   int `json:"assets"`
	Imported int `json:"imported"`
	// SkippedMedical are assets of medical devices: their vulnerabilities
	// come from passive matching, not from a scanner that must not touch
	// them.
	SkippedMedical int                 `json:"skipped_medical"`
	DetailsMissing int                 `json:"details_missing"`
	Unmatched      []scanner.Unmatched `json:"unmatched,omitempty"`
	Error          string              `json:"error,omitempty"`
}

// Result is the report of one sync.
type Result struct {
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	DryRun   bool            `json:"dry_run"`
	Sites    []SiteResult    `json:"sites"`
	Tags     *TagResult      `json:"tags,omitempty"`
	Findings *FindingsResult `json:"findings,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// Drift returns every drift of the result.
func (r Result) Drift() []Drift {
	var out []Drift
	for _, s := range r.Sites {
		out = append(out, s.Drift...)
	}
	return out
}

// Inputs is the state a sync works from.
type Inputs struct {
	// Devices is the inventory now.
	Devices []scanner.Device
	// Clinical maps device IDs to the CVEs of their clinical
	// vulnerabilities (pushed as tags).
	Clinical map[string][]string
	// Full also pushes tags and imports findings; a sync triggered by a
	// device change only fixes the exclusions.
	Full bool
	// DryRun computes without changing anything.
	DryRun bool
	// AddOnly adds what is missing and removes nothing: the inventory may
	// be incomplete (rebuilding from the log after a start), and an
	// address missing from it must not lose its exclusion.
	AddOnly bool
}

// Reconciler computes and applies one sync. It is not safe for
// concurrent use; the Component serialises it.
type Reconciler struct {
	cfg     scanner.Configuration
	console Console
	ledger  Ledger
	logger  *slog.Logger
	now     func() time.Time
	// expected is, per site, what Vigil left there after its last sync:
	// an address of it found missing later is drift.
	expected map[int][]string
	// findings are the last imported findings.
	findings []scanner.Finding
	details  map[string]insightvm.Vulnerability
}

// NewReconciler returns a reconciler over a console and a ledger.
func NewReconciler(cfg scanner.Configuration, console Console, ledger Ledger, logger *slog.Logger) *Reconciler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg, console: console, ledger: ledger, logger: logger, now: time.Now,
		expected: map[int][]string{}, details: map[string]insightvm.Vulnerability{}}
}

// Findings returns the findings of the last import.
func (r *Reconciler) Findings() []scanner.Finding { return slices.Clone(r.findings) }

// desired maps every address that must be excluded to its owner (a
// device ID, or "extra").
func (r *Reconciler) desired(devices []scanner.Device) map[string]string {
	want := map[string]string{}
	for _, a := range r.cfg.ExtraExclusions {
		want[strings.TrimSpace(a)] = extraKey
	}
	for _, d := range devices {
		if !d.Medical {
			continue
		}
		for _, ip := range d.IPs {
			want[ip] = d.ID
		}
	}
	return want
}

// Sync runs one reconciliation.
func (r *Reconciler) Sync(ctx context.Context, in Inputs) (Result, error) {
	res := Result{Started: r.now().UTC(), DryRun: in.DryRun || r.cfg.DryRun}
	fail := func(err error) (Result, error) {
		res.Error, res.Finished = err.Error(), r.now().UTC()
		return res, err
	}
	ledger, err := r.ledger.Load(ctx)
	if err != nil {
		return fail(err)
	}
	sites, err := r.console.Sites(ctx)
	if err != nil {
		return fail(fmt.Errorf("list sites: %w", err))
	}
	want := r.desired(in.Devices)
	desired := slices.SortedFunc(maps.Keys(want), scanner.CompareTargets)
	newOwned := map[string]map[string][]string{} // ledger key -> site -> addresses
	var errs []error
	managed := 0
	for _, site := range sites {
		if !r.cfg.SiteMatches(site.ID, site.Name) {
			continue
		}
		managed++
		sr, owned, err := r.syncSite(ctx, site, desired, want, ledger, res.DryRun, in.AddOnly)
		if err != nil {
			sr.Error = err.Error()
			errs = append(errs, fmt.Errorf("site %q: %w", site.Name, err))
			// Keep what the ledger knew for this site: nothing is forgotten
			// because the console failed.
			owned = map[string][]string{}
			for k, e := range ledger {
				if a := e.Sites[strconv.Itoa(site.ID)]; len(a) > 0 {
					owned[k] = a
				}
			}
		}
		for k, addrs := range owned {
			if newOwned[k] == nil {
				newOwned[k] = map[string][]string{}
			}
			newOwned[k][strconv.Itoa(site.ID)] = addrs
		}
		res.Sites = append(res.Sites, sr)
	}
	if managed == 0 && len(r.cfg.Sites) > 0 {
		errs = append(errs, fmt.Errorf("none of the configured sites %v exists on the console", r.cfg.Sites))
	}
	if !res.DryRun {
		if err := r.saveLedger(ctx, ledger, newOwned, sites); err != nil {
			errs = append(errs, err)
		}
	}
	if in.Full && r.cfg.Tags {
		tr, err := r.syncTags(ctx, in, res.DryRun)
		if err != nil {
			tr.Error = err.Error()
			errs = append(errs, fmt.Errorf("tags: %w", err))
		}
		res.Tags = &tr
	}
	if in.Full && r.cfg.ImportFindings {
		fr, err := r.importFindings(ctx, in.Devices)
		if err != nil {
			fr.Error = err.Error()
			errs = append(errs, fmt.Errorf("import findings: %w", err))
		}
		res.Findings = &fr
	}
	res.Finished = r.now().UTC()
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
		return res, err
	}
	return res, nil
}

// syncSite reconciles one site's excluded targets and returns the
// addresses Vigil owns there afterwards, by ledger key.
func (r *Reconciler) syncSite(ctx context.Context, site insightvm.Site, desired []string, want map[string]string,
	ledger map[string]Entry, dryRun, addOnly bool) (SiteResult, map[string][]string, error) {
	sr := SiteResult{ID: site.ID, Name: site.Name, Desired: desired}
	before, err := r.console.ExcludedTargets(ctx, site.ID)
	if err != nil {
		return sr, nil, fmt.Errorf("read excluded targets: %w", err)
	}
	mine := owned(ledger, site.ID)
	expected, ok := r.expected[site.ID]
	if !ok {
		expected = mine
	}
	sr = r.plan(sr, site.Name, before, want, mine, expected, addOnly)
	if dryRun {
		return sr, nil, nil
	}
	if r.cfg.OwnList && !addOnly {
		if len(sr.Added) > 0 || len(sr.Removed) > 0 {
			err = r.console.SetExcludedTargets(ctx, site.ID, desired)
		}
	} else {
		if err = r.console.AddExcludedTargets(ctx, site.ID, sr.Added); err == nil {
			err = r.console.RemoveExcludedTargets(ctx, site.ID, sr.Removed)
		}
	}
	if err != nil {
		return sr, nil, fmt.Errorf("change excluded targets: %w", err)
	}
	after, err := r.console.ExcludedTargets(ctx, site.ID)
	if err != nil {
		return sr, nil, fmt.Errorf("read back excluded targets: %w", err)
	}
	sr.After = slices.SortedFunc(slices.Values(after), scanner.CompareTargets)
	var lacking, kept []string
	onConsole := set(after)
	for _, a := range desired {
		if !onConsole[a] {
			lacking = append(lacking, a)
		}
	}
	for _, a := range sr.Removed {
		if onConsole[a] {
			kept = append(kept, a)
		}
	}
	if len(lacking) > 0 || len(kept) > 0 {
		return sr, nil, fmt.Errorf("read-back differs from the change: console lacks %v, still has %v", lacking, kept)
	}
	sr.Verified = true
	for i := range sr.Drift {
		sr.Drift[i].Repaired = true
	}
	r.expected[site.ID] = desired
	own := map[string][]string{}
	added, isMine, deferred := set(sr.Added), set(mine), set(sr.Deferred)
	for _, a := range desired {
		if r.cfg.OwnList || added[a] || isMine[a] {
			own[want[a]] = append(own[want[a]], a)
		}
	}
	// Deferred removals stay Vigil's, under the key that owned them.
	for k, e := range ledger {
		for _, a := range e.Sites[strconv.Itoa(site.ID)] {
			if deferred[a] {
				own[k] = append(own[k], a)
			}
		}
	}
	return sr, own, nil
}

// plan computes a site's changes from what the console holds (before),
// the wanted addresses with their owners, the addresses Vigil added
// (mine) and what it left there last time (expected).
func (r *Reconciler) plan(sr SiteResult, site string, before []string, want map[string]string, mine, expected []string, addOnly bool) SiteResult {
	sr.Before = slices.SortedFunc(slices.Values(before), scanner.CompareTargets)
	onConsole, isMine, wasThere := set(before), set(mine), set(expected)
	for _, a := range sr.Desired {
		if !onConsole[a] {
			sr.Added = append(sr.Added, a)
			if wasThere[a] {
				sr.Drift = append(sr.Drift, Drift{Site: site, Address: a, Kind: "missing", DeviceID: ownerID(want[a])})
			}
		}
	}
	for _, a := range sr.Before {
		if _, keep := want[a]; keep {
			continue
		}
		switch {
		case isMine[a]:
			sr.Removed = append(sr.Removed, a) // stale: Vigil added it for an address a device no longer holds
		case r.cfg.OwnList:
			sr.Removed = append(sr.Removed, a)
			sr.Drift = append(sr.Drift, Drift{Site: site, Address: a, Kind: "foreign"})
		}
	}
	if addOnly {
		sr.Deferred, sr.Removed = sr.Removed, nil
		sr.Drift = slices.DeleteFunc(sr.Drift, func(d Drift) bool { return d.Kind == "foreign" })
	}
	return sr
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, a := range list {
		m[a] = true
	}
	return m
}

func ownerID(key string) string {
	if key == extraKey {
		return ""
	}
	return key
}

// saveLedger writes the entries that changed. Sites that no longer exist
// are dropped from it.
func (r *Reconciler) saveLedger(ctx context.Context, old map[string]Entry, owned map[string]map[string][]string, sites []insightvm.Site) error {
	var errs []error
	for k, e := range old {
		if _, ok := owned[k]; !ok {
			// Keep entries of sites that are not managed (filtered out now,
			// or absent): only managed sites were rewritten.
			kept := map[string][]string{}
			for s, a := range e.Sites {
				if !r.managedSite(s, sites) {
					kept[s] = a
				}
			}
			if len(kept) == 0 {
				errs = append(errs, r.ledger.Delete(ctx, k))
			} else if !equalSites(kept, e.Sites) {
				errs = append(errs, r.ledger.Put(ctx, k, Entry{Sites: kept}))
			}
		}
	}
	for k, bySite := range owned {
		e := Entry{Sites: map[string][]string{}}
		for s, a := range old[k].Sites {
			if !r.managedSite(s, sites) {
				e.Sites[s] = a
			}
		}
		for s, a := range bySite {
			slices.Sort(a)
			e.Sites[s] = a
		}
		if !equalSites(e.Sites, old[k].Sites) {
			errs = append(errs, r.ledger.Put(ctx, k, e))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) managedSite(id string, sites []insightvm.Site) bool {
	for _, s := range sites {
		if strconv.Itoa(s.ID) == id {
			return r.cfg.SiteMatches(s.ID, s.Name)
		}
	}
	return false
}

func equalSites(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// assetsToDevices matches the console's assets to inventory devices.
func assetsToDevices(assets []insightvm.Asset, devices []scanner.Device) ([]scanner.Finding, []scanner.Unmatched) {
	probes := make([]scanner.Finding, len(assets))
	for i, a := range assets {
		ip, mac := a.IP, a.MAC
		if ip == "" && len(a.Addresses) > 0 {
			ip, mac = a.Addresses[0].IP, a.Addresses[0].MAC
		}
		probes[i] = scanner.Finding{Scanner: "insightvm", Host: ip, MAC: scanner.NormalizeMAC(mac), Hostname: a.HostName,
			AssetID: strconv.FormatInt(a.ID, 10)}
	}
	return scanner.Merge(probes, devices)
}

// syncTags pushes "<prefix>medical", "<prefix><category>" and
// "<prefix><CVE>" onto the assets of medical devices and removes Vigil's
// tags from assets that no longer deserve them.
func (r *Reconciler) syncTags(ctx context.Context, in Inputs, dryRun bool) (TagResult, error) {
	var tr TagResult
	assets, err := r.console.Assets(ctx)
	if err != nil {
		return tr, fmt.Errorf("list assets: %w", err)
	}
	byID := map[string]scanner.Device{}
	for _, d := range in.Devices {
		byID[d.ID] = d
	}
	matched, _ := assetsToDevices(assets, in.Devices)
	want := map[string]map[int64]bool{} // tag name -> assets
	inConsole := map[string]bool{}
	for i, m := range matched {
		d, ok := byID[m.DeviceID]
		if !ok || !d.Medical {
			continue
		}
		inConsole[d.ID] = true
		tr.MedicalAssets++
		names := []string{r.cfg.TagPrefix + "medical"}
		if d.Category != "" {
			names = append(names, r.cfg.TagPrefix+d.Category)
		}
		for _, cve := range in.Clinical[d.ID] {
			names = append(names, r.cfg.TagPrefix+cve)
		}
		for _, n := range names {
			if want[n] == nil {
				want[n] = map[int64]bool{}
			}
			want[n][assets[i].ID] = true
		}
	}
	for _, d := range in.Devices {
		if d.Medical && !inConsole[d.ID] {
			tr.MedicalNotInConsole++
		}
	}
	existing, err := r.console.Tags(ctx, r.cfg.TagPrefix)
	if err != nil {
		return tr, fmt.Errorf("list tags: %w", err)
	}
	ids := map[string]int{}
	for _, t := range existing {
		if strings.HasPrefix(t.Name, r.cfg.TagPrefix) && t.Type == "custom" {
			ids[t.Name] = t.ID
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := ids[name]; ok {
			continue
		}
		tr.Created = append(tr.Created, name)
		if dryRun {
			continue
		}
		id, err := r.console.CreateTag(ctx, insightvm.Tag{Name: name, Type: "custom", Color: tagColor(name, r.cfg.TagPrefix)})
		if err != nil {
			return tr, fmt.Errorf("create tag %q: %w", name, err)
		}
		ids[name] = id
	}
	for _, name := range slices.Sorted(maps.Keys(ids)) {
		id := ids[name]
		var have []int64
		if !slices.Contains(tr.Created, name) {
			if have, err = r.console.TagAssets(ctx, id); err != nil {
				return tr, fmt.Errorf("assets of tag %q: %w", name, err)
			}
		}
		for a := range want[name] {
			if slices.Contains(have, a) {
				continue
			}
			tr.Assigned++
			if !dryRun {
				if err := r.console.TagAsset(ctx, a, id); err != nil {
					return tr, fmt.Errorf("tag asset %d with %q: %w", a, name, err)
				}
			}
		}
		for _, a := range have {
			if want[name][a] || in.AddOnly {
				continue
			}
			tr.Unassigned++
			if !dryRun {
				if err := r.console.UntagAsset(ctx, a, id); err != nil {
					return tr, fmt.Errorf("untag asset %d from %q: %w", a, name, err)
				}
			}
		}
	}
	return tr, nil
}

// tagColor marks medical devices red and clinical CVEs orange in the
// console's interface.
func tagColor(name, prefix string) string {
	switch rest := strings.TrimPrefix(name, prefix); {
	case rest == "medical":
		return "red"
	case scanner.IsCVE(rest):
		return "orange"
	}
	return "default"
}

var cveInID = regexp.MustCompile(`(?i)cve-\d{4}-\d{4,19}`)

// importFindings reads the findings of every asset that is not a medical
// device and merges them with the inventory.
func (r *Reconciler) importFindings(ctx context.Context, devices []scanner.Device) (FindingsResult, error) {
	var fr FindingsResult
	assets, err := r.console.Assets(ctx)
	if err != nil {
		return fr, fmt.Errorf("list assets: %w", err)
	}
	fr.Assets = len(assets)
	medical := map[string]bool{}
	for _, d := range devices {
		medical[d.ID] = d.Medical
	}
	matched, _ := assetsToDevices(assets, devices)
	var out []scanner.Finding
	for i, a := range assets {
		if medical[matched[i].DeviceID] {
			fr.SkippedMedical++
			continue
		}
		vf, err := r.console.AssetVulnerabilities(ctx, a.ID)
		if err != nil {
			return fr, fmt.Errorf("asset %d findings: %w", a.ID, err)
		}
		for _, f := range vf {
			if f.Status != "" && f.Status != "vulnerable" {
				continue
			}
			fd, ok, err := r.detail(ctx, f.ID)
			if err != nil {
				return fr, err
			}
			if !ok {
				fr.DetailsMissing++
			}
			out = append(out, findingOf(matched[i], f, fd, ok, r.console))
		}
	}
	merged, unmatched := scanner.Merge(out, devices)
	fr.Imported, fr.Unmatched = len(merged), unmatched
	r.findings = merged
	return fr, nil
}

// detail returns a catalogue entry, cached; ok is false when the console
// has none (404): the finding is kept with the CVEs its ID names.
func (r *Reconciler) detail(ctx context.Context, id string) (insightvm.Vulnerability, bool, error) {
	if v, ok := r.details[id]; ok {
		return v, v.ID != "", nil
	}
	v, err := r.console.Vulnerability(ctx, id)
	var apiErr *insightvm.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == 404 {
		r.details[id] = insightvm.Vulnerability{}
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("vulnerability %s: %w", id, err)
	}
	r.details[id] = v
	return v, true, nil
}

func findingOf(host scanner.Finding, f insightvm.VulnerabilityFinding, v insightvm.Vulnerability, known bool, c Console) scanner.Finding {
	out := host
	out.Check, out.Title = f.ID, f.ID
	if t, err := time.Parse(time.RFC3339, f.Since); err == nil {
		out.Seen = t.UTC()
	}
	if len(f.Results) > 0 {
		out.Port, out.Protocol = f.Results[0].Port, f.Results[0].Protocol
	}
	if src, ok := c.(interface{ BaseURL() string }); ok {
		out.Source = src.BaseURL()
	}
	if !known {
		out.CVEs = scanner.NormalizeCVEs(cveInID.FindAllString(f.ID, -1))
		return out
	}
	out.Title = v.Title
	out.CVEs = scanner.NormalizeCVEs(v.CVEs)
	switch {
	case v.CVSS.V3 != nil:
		out.CVSS, out.CVSSVector = v.CVSS.V3.Score, v.CVSS.V3.Vector
	case v.CVSS.V2 != nil:
		out.CVSS, out.CVSSVector = v.CVSS.V2.Score, v.CVSS.V2.Vector
	}
	// The CVSS score decides when there is one (InsightVM's "Severe"
	// spans CVSS 4 to 7.9); the console's own level otherwise.
	switch sev := strings.ToLower(v.Severity); {
	case out.CVSS > 0:
		out.Severity = scanner.SeverityFromScore(out.CVSS)
	case sev == "critical":
		out.Severity = scanner.SeverityCritical
	case sev == "severe":
		out.Severity = scanner.SeverityHigh
	case sev == "moderate":
		out.Severity = scanner.SeverityMedium
	}
	return out
}
