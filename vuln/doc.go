// Package vuln holds what Vigil knows about vulnerabilities, offline
// first: a Store of NVD CVE records, CSAF advisories, the CISA KEV
// catalog, FIRST EPSS scores, and the SBOMs and VEX statements of device
// models, filled by the importers of vuln/feed and saved as a snapshot.
//
// # Why several sources
//
// Clinical devices are mostly absent from NVD's CPE configurations and
// from KEV; their vulnerabilities come in CISA ICS medical advisories
// (ICSMA) and vendor CSAF documents, which name products in free text and
// carry no CPE. NVD covers the IT components inside devices (Windows,
// OpenSSL, DCMTK...), KEV and EPSS say how likely exploitation is, SBOMs
// say which components a model ships, and VEX says which of their
// vulnerabilities a manufacturer has ruled out. Each source is kept as it
// is, with where it came from; matching and scoring read across them.
//
// # The model
//
//   - CVE: one NVD record: descriptions, CVSS v3.x scores (Score picks
//     NVD's own, 3.1 first), CWEs, references, and Configurations: NVD's
//     trees of CPE match criteria with version ranges, evaluated by
//     Configuration.Check against the CPE names of one platform. CVEs
//     awaiting analysis have no configuration and match nothing.
//   - Advisory: one CSAF document, keyed by publisher namespace and
//     tracking ID: its Products (the leaves of the product tree, with the
//     vendor and product name of the branches above and the version or
//     range as written), and per vulnerability the product status lists,
//     CVSS scores, remediations (with the version a vendor fix names, when
//     its text says one), and the impact statements and flags that
//     justify "not affected".
//   - KEVEntry and KEVCatalog: the whole catalog, replaced by a newer one.
//   - EPSS and EPSSSet: the scores of one day, replaced by a later day.
//   - SBOM: the components (name, version, supplier, purl, CPE) of a
//     device model, keyed by ModelRef (vendor and name folded, version as
//     written), replaced by the model's next SBOM.
//   - VEXStatement, in VEXDocuments: whether a model (or a component of
//     it) is affected by a vulnerability, with the justification; a
//     document imported again replaces its statements. CSAF VEX documents
//     are kept both as advisories and as statements; CycloneDX VEX as
//     statements.
//
// # Versions
//
// Versions and ranges are read by package vuln/version: one documented
// comparator for every scheme (dotted numbers, pre-releases, vendor
// build strings such as "L81" or "22D19"), strict vers ranges, and the
// lenient reading of the ranges advisories really write ("<= L81",
// "4.X | 5.X", "9.x model 35700BAX3"). Lenient readings answer Maybe
// where the text leaves doubt; Store.Affects turns In into "confirmed"
// findings and Maybe into "potential" ones. NVD's CPE names and ranges
// are read by vuln/cpe.
//
// # Imports
//
// Every import is a Batch parsed and validated whole from one file (or
// one NVD API run) and applied by Store.Apply under the write lock, all
// or nothing: a rejected file, or a KEV catalog or EPSS day older than
// the one held (ErrStale), leaves the store as it was; readers never see
// half an import. CVE records and advisories are replaced only by newer
// ones (lastModified, current release date).
//
// # Snapshot
//
// WriteSnapshot writes the whole store as one JSON document, sorted so
// that the same content gives the same bytes; ReadSnapshot reads one whole
// before replacing anything. The format is versioned (SnapshotVersion).
//
// # Matching
//
// Matching the inventory (device attributes, the alias table of medical
// vendors and products, CPEs of devices, confidence, lifecycle) is built
// on this package, in vuln/alias and vuln/match; Affects and AffectsModel
// are the lookups it uses. This package holds the types matching shares
// with its readers: Match, Record, ScannerFinding (what the scanner
// integration hands over) and Service (what the API and dashboard read).
package vuln
