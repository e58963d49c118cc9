package events

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"
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
//
// It is built by hand, not with fmt: every flow the engine and the store
// writer handle asks for two keys.
func DeviceKey(mac, ip string, vlan uint16) string {
	var buf [72]byte
	b := buf[:0]
	if mac != "" {
		b = append(b, "mac:"...)
		b = appendLower(b, mac)
	} else {
		b = append(b, "ip:"...)
		b = append(b, ip...)
	}
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(vlan), 10)
	return string(b)
}

// appendLower appends strings.ToLower(s): by hand for ASCII, which MAC
// addresses are.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
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
