package synth

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// internetAnomaly has pump-02 beacon three times to an internet address
// over TLS through the router, a fifteenth of the detection phase apart (a
// minute by default).
func (w *ward) internetAnomaly(t time.Time) Anomaly {
	a := Anomaly{
		Kind: KindInternet, Device: "pump-02", Peer: internetHost, Ports: []uint16{httpsPort},
		Note: "infusion pump pump-02 opens TLS connections to an internet address through the router",
	}
	done := w.mark(&a)
	gw := w.host("ward-gw")
	inet := &host{mac: gw.mac, ip: internetHost, ttl: 52, ipID: uint16(w.rng.Uint32())}
	for i := range 3 {
		at := t.Add(time.Duration(i) * (w.opts.Detection / 15).Truncate(time.Second))
		c := w.dial(at, w.host(a.Device), inet, httpsPort, internetRTT)
		w.tlsSession(c, "telemetry.example.net", 600+w.rng.IntN(400), 120+w.rng.IntN(100))
		c.close(true)
	}
	done()
	return a
}

// scanAnomaly has the workstation SYN-scan 100 ports of the PACS in a few
// seconds, the way nmap -sS does: closed ports answer RST+ACK; the open
// DICOM port answers SYN+ACK and the scanner resets it.
func (w *ward) scanAnomaly(t time.Time) Anomaly {
	ws, pacs := w.host("ws-nurse-01"), w.host("pacs-main")
	ports := []uint16{dicomPort}
	for _, p := range w.rng.Perm(1024) {
		if len(ports) == 100 {
			break
		}
		if p != 0 && p != dicomPort {
			ports = append(ports, uint16(p))
		}
	}
	w.rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	a := Anomaly{
		Kind: KindScan, Device: "ws-nurse-01", Peer: pacs.ip, PeerDevice: "pacs-main",
		Ports: slices.Sorted(slices.Values(ports)),
		Note:  "workstation ws-nurse-01 SYN-scans 100 TCP ports of the PACS",
	}
	done := w.mark(&a)
	sport := ws.ephemeral()
	var mssOpt [2]byte
	binary.BigEndian.PutUint16(mssOpt[:], mss)
	probeOpts := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: mssOpt[:]}}
	emit := func(at time.Time, src, dst *host, tcp *layers.TCP) {
		w.frame(at, src.mac, dst.mac, ipv4(src, dst, layers.IPProtocolTCP, src == pacs), tcp)
	}
	for _, p := range ports {
		seq := w.rng.Uint32()
		emit(t, ws, pacs, &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(p), Seq: seq, SYN: true, Window: 1024, Options: probeOpts})
		r := t.Add(w.between(150*time.Microsecond, 400*time.Microsecond))
		if p == dicomPort {
			emit(r, pacs, ws, &layers.TCP{SrcPort: layers.TCPPort(p), DstPort: layers.TCPPort(sport), Seq: w.rng.Uint32(), Ack: seq + 1, SYN: true, ACK: true, Window: 64240, Options: synOptions()})
			r = r.Add(w.between(50*time.Microsecond, 150*time.Microsecond))
			emit(r, ws, pacs, &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(p), Seq: seq + 1, RST: true})
		} else {
			emit(r, pacs, ws, &layers.TCP{SrcPort: layers.TCPPort(p), DstPort: layers.TCPPort(sport), Ack: seq + 1, RST: true, ACK: true})
		}
		t = t.Add(w.between(10*time.Millisecond, 35*time.Millisecond))
	}
	done()
	return a
}

// newPeerAnomaly has monitor-02 open an SMB connection to the workstation,
// a peer it never talked to during learning.
func (w *ward) newPeerAnomaly(t time.Time) Anomaly {
	ws := w.host("ws-nurse-01")
	a := Anomaly{
		Kind: KindNewPeer, Device: "monitor-02", Peer: ws.ip, PeerDevice: "ws-nurse-01", Ports: []uint16{smbPort},
		Note: "patient monitor monitor-02 connects to the workstation's SMB port",
	}
	done := w.mark(&a)
	c := w.dial(t, w.host(a.Device), ws, smbPort, lanRTT)
	c.wait(w.between(time.Millisecond, 5*time.Millisecond))
	c.close(true)
	done()
	return a
}
