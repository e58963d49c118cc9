package dicom

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-health/vigil/capture/dpi"
	"github.com/vigil-health/vigil/capture/dpitest"
)

// FuzzStream feeds two byte streams (originator, responder) to a stream,
// interleaved in segments whose sizes and directions come from cuts (0xFF
// and 0xFE are gaps in the originator and responder directions), through
// the pipeline's buffering and skipping.
func FuzzStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pcap")
	for _, file := range files {
		var orig, resp []byte
		var cuts []byte
		for _, s := range dpitest.Segments(f, file) {
			size := min(len(s.Data), 128)
			if s.FromOrig {
				orig = append(orig, s.Data...)
				cuts = append(cuts, byte(size-1)<<1)
			} else {
				resp = append(resp, s.Data...)
				cuts = append(cuts, byte(size-1)<<1|1)
			}
		}
		f.Add(orig, resp, cuts)
	}
	rq, ac := handshake(tsImplicit)
	srq, srsp := store(ctObject(implicitLE)[:600], 100, 0xA700)
	f.Add(cat(rq, srq, release), cat(ac, srsp, releaseRP), []byte{0x20, 0x21, 0x7e, 0xff, 0x22, 0x23})
	rq, ac = handshake(tsBig)
	srq, srsp = store(ctObject(explicitBE)[:600], 37, 0)
	f.Add(cat(rq, srq, release), cat(ac, srsp, releaseRP), []byte{0x0e, 0x13, 0x40, 0xfe, 0x41})
	f.Add(rq, pdu(pduAssociateRJ, []byte{0, 1, 1, 7}), []byte{})

	attrs := map[string]bool{}
	for _, a := range []string{dpi.AttrDICOMAETitle, dpi.AttrDICOMRole, dpi.AttrDICOMImplClassUID, dpi.AttrDICOMImplVersion,
		dpi.AttrDICOMSOPClass, dpi.AttrDICOMModality, dpi.AttrCleartextCredential} {
		attrs[a] = true
	}
	for _, e := range equipment {
		attrs[e.attr] = true
	}
	f.Fuzz(func(t *testing.T, orig, resp, cuts []byte) {
		fd := newFeeder(t, modality)
		fd.MaxBuffer = 4 << 10
		feed := func(fromModality bool, b *[]byte, n int) {
			n = min(n, len(*b))
			fd.Data(fromModality, (*b)[:n])
			*b = (*b)[n:]
		}
		for _, c := range cuts {
			switch {
			case c == 0xFF:
				fd.Gap(modality)
			case c == 0xFE:
				fd.Gap(pacs)
			case c&1 == 0:
				feed(modality, &orig, int(c>>1)+1)
			default:
				feed(pacs, &resp, int(c>>1)+1)
			}
		}
		feed(modality, &orig, len(orig))
		feed(pacs, &resp, len(resp))
		fd.End()
		for _, o := range fd.Out.Observations {
			if !attrs[o.Attribute] || o.Value == "" || len(o.Value) > dpi.MaxValue ||
				o.Confidence <= 0 || o.Confidence > 1 || o.Protocol != Protocol || o.Evidence == "" {
				t.Fatalf("observation %+v", o)
			}
		}
		for _, a := range fd.Out.Auths {
			if len(a.Principal) > dpi.MaxValue || a.Result == "" {
				t.Fatalf("auth %+v", a)
			}
		}
		for _, c := range fd.Out.Counters {
			if !strings.HasPrefix(c.Name, "dicom.") || c.N != 1 {
				t.Fatalf("counter %+v", c)
			}
		}
	})
}

// BenchmarkStore runs the dissector over the payloads of the two-object
// C-STORE capture, through the pipeline's buffering.
func BenchmarkStore(b *testing.B) {
	segs := dpitest.Segments(b, "testdata/store-explicit.pcap")
	total := 0
	for _, s := range segs {
		total += len(s.Data)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		f := replay(b, segs)
		if f.Err != nil {
			b.Fatal(f.Err)
		}
	}
}

// BenchmarkStoreSegmented is BenchmarkStore with the payloads cut in
// 1448-byte segments, as on an Ethernet network.
func BenchmarkStoreSegmented(b *testing.B) {
	var segs []dpitest.Write
	total := 0
	for _, s := range dpitest.Segments(b, "testdata/store-explicit.pcap") {
		total += len(s.Data)
		for p := s.Data; len(p) > 0; {
			k := min(1448, len(p))
			segs = append(segs, dpitest.Write{FromOrig: s.FromOrig, Data: p[:k]})
			p = p[k:]
		}
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		f := replay(b, segs)
		if f.Err != nil {
			b.Fatal(f.Err)
		}
	}
}

// FuzzDataSet walks arbitrary data sets, pushed in chunks of cut bytes,
// in each encoding: only equipment values come out, bounded, and the
// walk stops within its limits.
func FuzzDataSet(f *testing.F) {
	for _, e := range []enc{implicitLE, explicitLE, explicitBE} {
		f.Add(byte(e+1), ctObject(e)[:700], byte(13))
	}
	f.Add(byte(0), ctObject(explicitLE)[:300], byte(1))
	f.Fuzz(func(t *testing.T, ts byte, b []byte, cut byte) {
		var ds dataset
		ds.reset(tsKind(ts % 4)) // unknown, implicit, explicit LE, explicit BE
		s := &stream{}
		var out dpi.Output
		n := int(cut) + 1
		for len(b) > 0 && !ds.done {
			k := min(n, len(b))
			ds.feed(b[:k], s, fromModality(), &out)
			b = b[k:]
		}
		if ds.examined > maxExamine+12+len(ds.val) || ds.walked > maxWalk+12+len(ds.val) {
			t.Fatalf("examined %d, walked %d", ds.examined, ds.walked)
		}
		for _, o := range out.Observations {
			if equipmentField(equipmentTag(o.Attribute)) < 0 || len(o.Value) > dpi.MaxValue || o.Value == "" {
				t.Fatalf("observation %+v", o)
			}
		}
	})
}

func equipmentTag(attr string) uint32 {
	for _, e := range equipment {
		if e.attr == attr {
			return e.tag
		}
	}
	return 0
}
