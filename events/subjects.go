package events

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// SubjectPrefix starts every Vigil subject.
const SubjectPrefix = "vigil." + Version

// DefaultPartitions is the number of partitions when none is configured.
// It bounds how many engines can share the work.
const DefaultPartitions = 16

// DeviceKey is the stable key of a device as the sensor sees it: its MAC
// within a VLAN when there is one, else its IP within a VLAN (a device
// behind a router, or a capture without link layer). The inventory maps
// keys to device IDs; the key is what partitions the work.
func DeviceKey(mac, ip string, vlan uint16) string {
	if mac != "" {
		return fmt.Sprintf("mac:%s/%d", strings.ToLower(mac), vlan)
	}
	return fmt.Sprintf("ip:%s/%d", ip, vlan)
}

// Partition maps a key to one of n partitions with FNV-1a, so the same
// device always lands on the same partition.
func Partition(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Subject returns vigil.v1.<kind>.p<partition>.
func Subject(k Kind, partition int) string {
	return fmt.Sprintf("%s.%s.p%d", SubjectPrefix, k, partition)
}

// KindSubjects returns the wildcard subject of all partitions of a kind.
func KindSubjects(k Kind) string {
	return fmt.Sprintf("%s.%s.>", SubjectPrefix, k)
}
