package events

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Share is the part of the partitions one engine process owns when
// several engines split the work (`vigil engine` with engine.slots > 1).
// The durable consumers of the engines' projections then read only the
// subjects of those partitions (vigil.v1.<kind>.p<N>), under a durable
// name and a checkpoint name suffixed with the share's owner, so each
// share has its own position and its own checkpoint, whichever process
// holds it. The zero Share is everything, under the plain names.
type Share struct {
	// Owner names the share ("slot0of2"); it suffixes durable and
	// checkpoint names.
	Owner string
	// Partitions owned, each in 0..Configuration.Partitions-1.
	Partitions []int
}

// SlotShare is slot's share when slots engines split partitions: the
// partitions p with p % slots == slot, so shares are equal within one
// partition and adding an engine moves whole partitions.
func SlotShare(slot, slots, partitions int) (Share, error) {
	if slots < 1 || slot < 0 || slot >= slots {
		return Share{}, fmt.Errorf("slot %d of %d does not exist", slot, slots)
	}
	if slots > partitions {
		return Share{}, fmt.Errorf("%d slots for %d partitions: a slot would own nothing", slots, partitions)
	}
	if slots == 1 {
		return Share{}, nil
	}
	s := Share{Owner: "slot" + strconv.Itoa(slot) + "of" + strconv.Itoa(slots)}
	for p := slot; p < partitions; p += slots {
		s.Partitions = append(s.Partitions, p)
	}
	return s, nil
}

// Whole says whether the share is every partition.
func (s Share) Whole() bool { return s.Owner == "" }

// name suffixes a durable or checkpoint name with the owner.
func (s Share) name(n string) string {
	if s.Whole() {
		return n
	}
	return n + "-" + s.Owner
}

// filter returns the subjects of kinds restricted to the share.
func (s Share) filter(kinds []Kind) []string {
	var out []string
	if len(kinds) == 0 && !s.Whole() {
		for _, p := range s.Partitions {
			out = append(out, SubjectPrefix+".*.p"+strconv.Itoa(p))
		}
		return out
	}
	for _, k := range kinds {
		if s.Whole() {
			out = append(out, KindSubjects(k))
			continue
		}
		for _, p := range s.Partitions {
			out = append(out, Subject(k, p))
		}
	}
	return out
}

// String is for logs: "slot1of2 (p1,p3,...)".
func (s Share) String() string {
	if s.Whole() {
		return "all partitions"
	}
	var ps []string
	for _, p := range slices.Sorted(slices.Values(s.Partitions)) {
		ps = append(ps, "p"+strconv.Itoa(p))
	}
	return s.Owner + " (" + strings.Join(ps, ",") + ")"
}
