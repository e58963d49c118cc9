package vuln

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// ErrStale is returned when an import is older than the data held: a KEV
// catalog or EPSS scores of an earlier day. Nothing is changed.
var ErrStale = errors.New("older than the data held")

// Batch is what one import adds: everything parsed and validated from one
// file (or one NVD API run). Store.Apply applies it whole or not at all.
type Batch struct {
	Source     Source
	CVEs       []CVE
	Advisories []Advisory
	// KEV, when set, replaces the catalog held.
	KEV *KEVBatch
	// EPSS, when set, replaces the scores held.
	EPSS  *EPSSBatch
	SBOMs []SBOM
	VEX   []VEXDocument
}

// KEVBatch is a whole KEV catalog.
type KEVBatch struct {
	Catalog KEVCatalog
	Entries []KEVEntry
}

// EPSSBatch is a whole day of EPSS scores.
type EPSSBatch struct {
	Set    EPSSSet
	Scores map[string]EPSS
}

// Summary counts what an import changed.
type Summary struct {
	Source Source `json:"source"`
	// CVEs added or replaced by a newer record, and kept because the
	// record held was as new or newer.
	CVEsAdded      int `json:"cves_added"`
	CVEsUpdated    int `json:"cves_updated"`
	CVEsKept       int `json:"cves_kept"`
	Advisories     int `json:"advisories"`
	AdvisoriesKept int `json:"advisories_kept"`
	KEVEntries     int `json:"kev_entries"`
	EPSSRows       int `json:"epss_rows"`
	Components     int `json:"components"`
	VEXStatements  int `json:"vex_statements"`
}

// Stats counts what the store holds.
type Stats struct {
	CVEs          int `json:"cves"`
	Advisories    int `json:"advisories"`
	KEVEntries    int `json:"kev_entries"`
	EPSSRows      int `json:"epss_rows"`
	SBOMs         int `json:"sboms"`
	Components    int `json:"components"`
	VEXStatements int `json:"vex_statements"`
	Imports       int `json:"imports"`
}

// Store holds vulnerability data in memory. Every import is applied whole
// under the write lock, so readers see the data before or after it, never
// half of it; a rejected import leaves everything as it was. It is safe
// for concurrent use.
type Store struct {
	mu sync.RWMutex
	d  data
	// gen counts the changes (imports applied, snapshots read), so that
	// readers can cache what they derive from the store.
	gen uint64

	// byName indexes advisory products by the folded names they go by
	// (productNames), for the generation byNameGen; built on first use.
	nameMu    sync.Mutex
	byName    map[string][]productRef
	byNameGen uint64
}

// productRef is one product of one advisory.
type productRef struct {
	a *Advisory
	i int
}

// Generation changes whenever the store's content changes.
func (s *Store) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// data is the content of a store; its exported form is the snapshot.
type data struct {
	cves       map[string]*CVE
	advisories map[string]*Advisory // by Advisory.Key
	kev        map[string]KEVEntry
	kevCatalog *KEVCatalog
	epss       map[string]EPSS
	epssSet    *EPSSSet
	sboms      map[string]*SBOM // by ModelRef.Key
	vex        map[string]*VEXDocument
	imports    []Summary
}

func newData() data {
	return data{cves: map[string]*CVE{}, advisories: map[string]*Advisory{}, kev: map[string]KEVEntry{},
		epss: map[string]EPSS{}, sboms: map[string]*SBOM{}, vex: map[string]*VEXDocument{}}
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{d: newData()} }

// Apply adds a batch: CVEs by ID (a record replaces one that is not
// newer), advisories by publisher and tracking ID (likewise, by current
// release date), the KEV catalog and the EPSS scores whole (unless older
// than those held: ErrStale), SBOMs by model, VEX statements by document.
func (s *Store) Apply(b *Batch) (Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{Source: b.Source}
	// Refuse first, change after: nothing below can fail.
	if b.KEV != nil && s.d.kevCatalog != nil && olderKEV(b.KEV.Catalog, *s.d.kevCatalog) {
		return sum, fmt.Errorf("KEV catalog %s (released %s): %w: catalog %s (released %s)", b.KEV.Catalog.Version,
			b.KEV.Catalog.Released.Format(time.DateOnly), ErrStale, s.d.kevCatalog.Version, s.d.kevCatalog.Released.Format(time.DateOnly))
	}
	if b.EPSS != nil && s.d.epssSet != nil && b.EPSS.Set.Date.Before(s.d.epssSet.Date) {
		return sum, fmt.Errorf("EPSS scores of %s: %w: scores of %s", b.EPSS.Set.Date.Format(time.DateOnly), ErrStale,
			s.d.epssSet.Date.Format(time.DateOnly))
	}
	for i := range b.CVEs {
		c := b.CVEs[i]
		old, ok := s.d.cves[c.ID]
		switch {
		case !ok:
			sum.CVEsAdded++
		case c.LastModified.Before(old.LastModified):
			sum.CVEsKept++
			continue
		default:
			sum.CVEsUpdated++
		}
		s.d.cves[c.ID] = &c
	}
	for i := range b.Advisories {
		a := b.Advisories[i]
		if old, ok := s.d.advisories[a.Key()]; ok && a.CurrentRelease.Before(old.CurrentRelease) {
			sum.AdvisoriesKept++
			continue
		}
		s.d.advisories[a.Key()] = &a
		sum.Advisories++
	}
	if b.KEV != nil {
		cat := b.KEV.Catalog
		s.d.kevCatalog = &cat
		s.d.kev = make(map[string]KEVEntry, len(b.KEV.Entries))
		for _, e := range b.KEV.Entries {
			s.d.kev[e.CVE] = e
		}
		sum.KEVEntries = len(s.d.kev)
	}
	if b.EPSS != nil {
		set := b.EPSS.Set
		s.d.epssSet = &set
		s.d.epss = maps.Clone(b.EPSS.Scores)
		if s.d.epss == nil {
			s.d.epss = map[string]EPSS{}
		}
		sum.EPSSRows = len(s.d.epss)
	}
	for i := range b.SBOMs {
		sb := b.SBOMs[i]
		s.d.sboms[sb.Model.Key()] = &sb
		sum.Components += len(sb.Components)
	}
	for i := range b.VEX {
		doc := b.VEX[i]
		s.d.vex[doc.ID] = &doc
		sum.VEXStatements += len(doc.Statements)
	}
	s.gen++
	s.d.imports = append(s.d.imports, sum)
	if n := len(s.d.imports) - MaxImports; n > 0 {
		s.d.imports = slices.Delete(s.d.imports, 0, n)
	}
	return sum, nil
}

// olderKEV tells whether catalog a is older than b: by release time, else
// by version ("2025.02.19" < "2025.08.25").
func olderKEV(a, b KEVCatalog) bool {
	if !a.Released.IsZero() && !b.Released.IsZero() {
		return a.Released.Before(b.Released)
	}
	return a.Version < b.Version
}

// Stats counts what the store holds.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{CVEs: len(s.d.cves), Advisories: len(s.d.advisories), KEVEntries: len(s.d.kev),
		EPSSRows: len(s.d.epss), SBOMs: len(s.d.sboms), Imports: len(s.d.imports)}
	for _, sb := range s.d.sboms {
		st.Components += len(sb.Components)
	}
	for _, d := range s.d.vex {
		st.VEXStatements += len(d.Statements)
	}
	return st
}

// CVE returns a CVE record. The result is shared: do not modify it.
func (s *Store) CVE(id string) (*CVE, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.d.cves[id]
	return c, ok
}

// CVEs returns every CVE record, sorted by ID.
func (s *Store) CVEs() []*CVE {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.d.cves)
}

// Advisory returns an advisory by tracking ID (of any publisher; the
// first by publisher namespace if several publishers used the ID).
func (s *Store) Advisory(id string) (*Advisory, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found *Advisory
	for _, a := range s.d.advisories {
		if a.ID == id && (found == nil || a.Publisher.Namespace < found.Publisher.Namespace) {
			found = a
		}
	}
	return found, found != nil
}

// Advisories returns every advisory, sorted by key.
func (s *Store) Advisories() []*Advisory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.d.advisories)
}

// KEV returns the KEV entry of a CVE.
func (s *Store) KEV(cve string) (KEVEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.d.kev[cve]
	return e, ok
}

// KEVCatalog describes the catalog held.
func (s *Store) KEVCatalog() (KEVCatalog, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.d.kevCatalog == nil {
		return KEVCatalog{}, false
	}
	return *s.d.kevCatalog, true
}

// EPSS returns the EPSS score of a CVE.
func (s *Store) EPSS(cve string) (EPSS, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.d.epss[cve]
	return e, ok
}

// EPSSSet describes the scores held.
func (s *Store) EPSSSet() (EPSSSet, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.d.epssSet == nil {
		return EPSSSet{}, false
	}
	return *s.d.epssSet, true
}

// SBOM returns the SBOM of a device model.
func (s *Store) SBOM(m ModelRef) (*SBOM, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sb, ok := s.d.sboms[m.Key()]
	return sb, ok
}

// SBOMs returns every SBOM, sorted by model key.
func (s *Store) SBOMs() []*SBOM {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.d.sboms)
}

// VEX returns the VEX statements about a vulnerability, sorted by
// document.
func (s *Store) VEX(vulnerability string) []VEXStatement {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []VEXStatement
	for _, d := range sortedValues(s.d.vex) {
		for _, st := range d.Statements {
			if st.Vulnerability == vulnerability {
				out = append(out, st)
			}
		}
	}
	return out
}

// VEXDocuments returns every VEX document, sorted by ID.
func (s *Store) VEXDocuments() []*VEXDocument {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedValues(s.d.vex)
}

// MaxImports is how many import summaries a store keeps (the latest).
const MaxImports = 1000

// Imports returns the summaries of the latest imports applied, oldest
// first.
func (s *Store) Imports() []Summary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.d.imports)
}

func sortedValues[V any](m map[string]*V) []*V {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]*V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// SnapshotFormat names the snapshot format and its version: a breaking
// change is a new version, read beside the old.
const (
	SnapshotFormat  = "vigil-vuln-snapshot"
	SnapshotVersion = 1
)

// snapshot is the serialised store: everything sorted, so the same
// content gives the same bytes.
type snapshot struct {
	Format     string         `json:"format"`
	Version    int            `json:"version"`
	CVEs       []*CVE         `json:"cves"`
	Advisories []*Advisory    `json:"advisories"`
	KEVCatalog *KEVCatalog    `json:"kev_catalog,omitempty"`
	KEV        []KEVEntry     `json:"kev"`
	EPSSSet    *EPSSSet       `json:"epss_set,omitempty"`
	EPSS       []epssRow      `json:"epss"`
	SBOMs      []*SBOM        `json:"sboms"`
	VEX        []*VEXDocument `json:"vex"`
	Imports    []Summary      `json:"imports"`
}

type epssRow struct {
	CVE string `json:"cve"`
	EPSS
}

// WriteSnapshot writes the whole store as JSON.
func (s *Store) WriteSnapshot(w io.Writer) error {
	s.mu.RLock()
	snap := snapshot{Format: SnapshotFormat, Version: SnapshotVersion,
		CVEs: sortedValues(s.d.cves), Advisories: sortedValues(s.d.advisories),
		KEVCatalog: s.d.kevCatalog, EPSSSet: s.d.epssSet,
		SBOMs: sortedValues(s.d.sboms), VEX: sortedValues(s.d.vex), Imports: s.d.imports}
	for _, k := range slices.Sorted(maps.Keys(s.d.kev)) {
		snap.KEV = append(snap.KEV, s.d.kev[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.d.epss)) {
		snap.EPSS = append(snap.EPSS, epssRow{CVE: k, EPSS: s.d.epss[k]})
	}
	enc := json.NewEncoder(w)
	err := enc.Encode(snap)
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("write vulnerability snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot replaces the store's content with a snapshot. The snapshot
// is read whole first: on error the store keeps what it had.
func (s *Store) ReadSnapshot(r io.Reader) error {
	var snap snapshot
	dec := json.NewDecoder(r)
	if err := dec.Decode(&snap); err != nil {
		return fmt.Errorf("read vulnerability snapshot: %w", err)
	}
	if snap.Format != SnapshotFormat {
		return fmt.Errorf("read vulnerability snapshot: format %q, want %q", snap.Format, SnapshotFormat)
	}
	if snap.Version != SnapshotVersion {
		return fmt.Errorf("read vulnerability snapshot: version %d, this Vigil reads version %d", snap.Version, SnapshotVersion)
	}
	d := newData()
	for _, c := range snap.CVEs {
		if c == nil || c.ID == "" {
			return errors.New("read vulnerability snapshot: a CVE without ID")
		}
		d.cves[c.ID] = c
	}
	for _, a := range snap.Advisories {
		if a == nil || a.ID == "" {
			return errors.New("read vulnerability snapshot: an advisory without ID")
		}
		d.advisories[a.Key()] = a
	}
	d.kevCatalog = snap.KEVCatalog
	for _, e := range snap.KEV {
		d.kev[e.CVE] = e
	}
	d.epssSet = snap.EPSSSet
	for _, e := range snap.EPSS {
		d.epss[e.CVE] = e.EPSS
	}
	for _, sb := range snap.SBOMs {
		if sb == nil {
			return errors.New("read vulnerability snapshot: an empty SBOM")
		}
		d.sboms[sb.Model.Key()] = sb
	}
	for _, v := range snap.VEX {
		if v == nil || v.ID == "" {
			return errors.New("read vulnerability snapshot: a VEX document without ID")
		}
		d.vex[v.ID] = v
	}
	d.imports = snap.Imports
	s.mu.Lock()
	s.d = d
	s.gen++
	s.mu.Unlock()
	return nil
}
