package lldp

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vigil-health/vigil/capture/dpi"
)

// readFrames reads the non-IP frames of a pcap or pcapng file as the
// pipeline hands them to frame dissectors, decoding the Ethernet, 802.1Q,
// LLC and SNAP headers with gopacket (independently of the sensor's own
// decoder). Frames carrying IP are skipped.
func readFrames(t testing.TB, path string) []dpi.Frame {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		src, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(br)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var frames []dpi.Frame
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil || pkt.Layer(layers.LayerTypeIPv4) != nil || pkt.Layer(layers.LayerTypeIPv6) != nil {
			continue
		}
		f := dpi.Frame{Time: ci.Timestamp, EtherType: uint16(eth.EthernetType), Payload: eth.Payload}
		copy(f.SrcMAC[:], eth.SrcMAC)
		copy(f.DstMAC[:], eth.DstMAC)
		if q, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); q != nil {
			f.VLAN, f.EtherType, f.Payload = q.VLANIdentifier, uint16(q.Type), q.Payload
		}
		if llc, _ := pkt.Layer(layers.LayerTypeLLC).(*layers.LLC); llc != nil && f.EtherType == 0 {
			f.Payload = llc.Payload
			if snap, _ := pkt.Layer(layers.LayerTypeSNAP).(*layers.SNAP); snap != nil {
				copy(f.SNAPOrg[:], snap.OrganizationalCode)
				f.SNAPPID, f.Payload = uint16(snap.Type), snap.Payload
			}
		}
		frames = append(frames, f)
	}
	return frames
}
