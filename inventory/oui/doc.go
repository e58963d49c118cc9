// Package oui is the MAC vendor registry: which organisation the IEEE
// assigned a MAC address's prefix to, and which vendor that is.
//
// The data is the IEEE's public registry (MA-L /24, MA-M /28, MA-S /36
// and the older IAB /36 blocks) as Debian's ieee-data package ships it,
// completed with the newer assignments in Wireshark's manuf file
// (libwireshark-data), compiled by the generator in ./gen into
// registry.tsv.gz and embedded. Lookup takes the most specific block
// (MA-S over MA-M over MA-L) by binary search over packed, sorted hex
// prefixes, without allocating. It answers false for locally administered
// and group addresses, for blocks registered as "Private" and for blocks
// held by the IEEE Registration Authority itself.
//
// Registered names are noisy ("B.Braun Melsungen AG", "Drägerwerk AG &
// Co. KG aA", "GE Medical System(China) Co., Ltd."). The curated alias
// table aliases.tsv, also embedded, maps them to a canonical vendor and a
// medical flag; it keeps the registered name as Entry.Organization and
// names a later owner only where the table's note says so ("BD
// (Alaris)").
//
// # Refreshing the data
//
//	apt-get update && apt-get install -y ieee-data libwireshark-data
//	go generate ./inventory/oui
//	go test ./inventory/oui
//
// then commit registry.tsv.gz. Its header states the package versions,
// the IEEE snapshot date and the SHA-256 of every input file; the test
// TestGeneratorReproducesCommittedFile regenerates it from the installed
// packages and compares byte for byte. README.md has the details.
package oui

//go:generate go run ./gen -out registry.tsv.gz
