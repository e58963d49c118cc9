package capture

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured frame as a Source delivers it. Data belongs to the
// source and is valid only until the next call to Next: whatever keeps
// bytes beyond that must copy them.
type Packet struct {
	Data     []byte
	Info     gopacket.CaptureInfo
	LinkType layers.LinkType
	// Origin names where the packet came from (a file path or an
	// interface); Number is its 1-based position there.
	Origin string
	Number uint64
	// VLAN is the tag a live source learned out of band (the NIC stripped
	// it from the frame), 0 otherwise.
	VLAN uint16
}

// ErrIdle is returned by a live source's Next when no packet came within
// its poll interval: not an error, a chance to run timers.
var ErrIdle = errors.New("no packet within the poll interval")

// LiveSource is a source that reads an interface: the kernel counts what
// it received and dropped.
type LiveSource interface {
	Source
	KernelStats() (received, dropped uint64)
}

// liveSources lists the live kinds this build has (platform files add
// theirs).
var liveSources []string

// LiveSupported tells whether this build can capture live.
func LiveSupported() bool { return len(liveSources) > 0 }

// Source delivers packets in capture order. Next fills p and returns io.EOF
// when the source is exhausted. Any other error describes one failed input
// (a broken file, say); a source made of several inputs may be asked for
// Next again after such an error and then continues with the next input.
type Source interface {
	Name() string
	Next(p *Packet) error
	Close() error
}

// SourceSpec says what to capture from. Kind selects the opener in a
// SourceRegistry; the other fields are read by the openers that need them.
type SourceSpec struct {
	Kind string
	// Files are capture files read in order as one stream ("file" kind).
	Files []string
	// Interface is the network interface of live kinds.
	Interface string
}

// SourceOpener makes a Source from its spec.
type SourceOpener func(spec SourceSpec) (Source, error)

// SourceRegistry maps the kinds of offline sources to their openers,
// filled explicitly (DefaultSources). Live interfaces are opened per
// worker through Dependencies.OpenLive instead: each worker needs its own
// socket in the fanout group.
type SourceRegistry struct {
	openers map[string]SourceOpener
}

// NewSourceRegistry returns an empty registry.
func NewSourceRegistry() *SourceRegistry {
	return &SourceRegistry{openers: map[string]SourceOpener{}}
}

// Register adds an opener for kind; a kind can be registered only once.
func (r *SourceRegistry) Register(kind string, open SourceOpener) error {
	if kind == "" || open == nil {
		return errors.New("register source: empty kind or nil opener")
	}
	if _, ok := r.openers[kind]; ok {
		return fmt.Errorf("register source %q: already registered", kind)
	}
	r.openers[kind] = open
	return nil
}

// Kinds lists the registered kinds, sorted.
func (r *SourceRegistry) Kinds() []string {
	kinds := make([]string, 0, len(r.openers))
	for k := range r.openers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Open opens a source of spec.Kind.
func (r *SourceRegistry) Open(spec SourceSpec) (Source, error) {
	open, ok := r.openers[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("open source: unknown kind %q (known: %s)", spec.Kind, strings.Join(r.Kinds(), ", "))
	}
	return open(spec)
}

// SourceKindFile is the kind of offline pcap/pcapng file sources.
const SourceKindFile = "file"

// DefaultSources returns the registry of the source kinds this build has.
func DefaultSources() *SourceRegistry {
	r := NewSourceRegistry()
	_ = r.Register(SourceKindFile, func(spec SourceSpec) (Source, error) {
		return NewFileSource(spec.Files)
	})
	return r
}
