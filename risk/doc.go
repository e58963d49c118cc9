// Package risk will own vulnerability feeds (NVD 2.0, CSAF 2.0, KEV,
// EPSS, SBOM/VEX), matching the inventory to advisories without scanning,
// the scanner integration (InsightVM exclusions and findings), and the
// published risk score.
//
// Not built yet (issue 8).
package risk
