// Package synth generates a small synthetic capture of a hospital ward,
// with its ground truth, for `vigil demo` and for end-to-end tests.
//
// Ward(opts) returns a Scenario: the Packets of a classic pcap (Ethernet,
// 802.1Q VLAN 20 unless Options.Untagged, microsecond timestamps), the
// Devices that send them and the Anomalies injected into them. Everything
// is computed from Options alone: event time counts from Options.Start,
// every random choice comes from one PCG generator seeded with
// Options.Seed and drawn in program order, and no map is ranged over, so
// the same Options give a byte-identical pcap. Packets are sorted by time
// (stable) before they are written.
//
// # The ward
//
// One routed subnet, 10.20.0.0/24, VLAN 20, behind a Cisco router. MACs
// carry the real IEEE OUI of each vendor (the medical ones are in
// shared/integrations/fingerprints/medical-vendor-ouis.tsv), because an
// inventory starts from them.
//
//	device           role             vendor (OUI)             address       why it is there
//	ward-gw          router           Cisco 00:00:0c           10.20.0.1     gateway, DHCP and DNS server; the L2 next hop to the internet
//	ct-scanner-1     ct               GE Healthcare 44:4b:5d   10.20.0.10    DICOM SCU "CT_SCANNER1": the modality whose equipment attributes DPI reads
//	pacs-main        pacs             Dell d4:ae:52            10.20.0.11    DICOM SCP "PACS_MAIN" on port 104 (DCMTK/Orthanc implementation UID)
//	central-station  central_station  Philips 00:09:5c         10.20.0.20    receives monitor telemetry, exports vitals over HL7
//	pump-server      pump_server      Dell d4:ae:52            10.20.0.21    infusion pump server, TLS on 443
//	ehr-server       ehr_server       Dell d4:ae:52            10.20.0.30    EHR web application (443), sends ADT^A01 over HL7
//	hl7-engine       hl7_engine       Dell d4:ae:52            10.20.0.31    HL7 interface engine, MLLP on 2575, answers MSA|AA
//	lab-analyser     lab_analyser     Roche 00:60:19           10.20.0.40    sends ORU^R01 results over HL7
//	pump-01, -02     infusion_pump    B. Braun 00:12:21        10.20.0.101-2 DHCP clients; life-critical devices that must never reach the internet
//	pump-03          infusion_pump    Alaris (BD) 00:d0:75     10.20.0.103   DHCP client; a second pump vendor
//	monitor-01, -02  patient_monitor  Philips 00:09:fb         10.20.0.111-2 DHCP clients; UDP telemetry to the central station
//	ws-nurse-01      workstation      Dell 00:14:22            10.20.0.150   Windows DHCP client ("MSFT 5.0"); DNS and HTTPS to the EHR
//
// Every exchange is a well-formed protocol conversation: DHCP DORA with
// options 53, 61, 12, 60, 55, 50, 54, 51; DNS queries and answers; TCP
// connections with the three-way handshake, consistent sequence and
// acknowledgement numbers, and FIN teardown; DICOM Upper Layer PDUs
// (A-ASSOCIATE-RQ/AC, P-DATA-TF with C-ECHO and C-STORE command sets and a
// small CT dataset in Implicit VR Little Endian, A-RELEASE); MLLP-framed
// HL7 2.5; TLS 1.3 records with a cleartext ClientHello carrying the
// server name. Patient data is synthetic and obvious: every patient is
// SyntheticPatientName, and the DICOM dataset holds equipment attributes
// and no pixel data. The monitors' telemetry is no real vendor protocol,
// only 64 bytes of numbers on the IntelliVue data export port.
//
// # Timeline (default options)
//
//	08:00:01-08:00:15  the pumps, monitors and workstation get their leases (DORA), one every 2.5 s
//	from 08:00:02      static devices are up; from their lease on, DHCP clients are
//	every 10 s         each monitor sends telemetry to the central station
//	every 90 s         the lab analyser sends a result to the HL7 engine
//	every 2 min        each pump opens a TLS session to the pump server
//	every 3 min        the workstation resolves the EHR and opens it over HTTPS
//	every 4 min        the CT associates with the PACS: C-ECHO, then 1-3 C-STOREs
//	every 5 min        the central station exports two beds' vitals over HL7
//	every 11 min       the EHR sends an admission (ADT^A01) to the HL7 engine
//	08:30:00           learning ends (Options.Learning); normal traffic goes on
//	08:33:00           internet: pump-02 beacons three times, a minute apart, to 203.0.113.45:443
//	08:37:03           scan: ws-nurse-01 SYN-scans 100 ports of pacs-main in about 2.5 s
//	08:40:57           new_peer: monitor-02 connects to the workstation's SMB port 445
//	08:45:00           the capture ends (Options.Detection later)
//
// The anomalies sit at 20 %, 47 % and 73 % of the detection phase, so they
// move with Options; the Anomalies ground truth holds their exact first
// and last packet times. Options.NoAnomalies leaves them out, giving a
// capture on which no deviation should be raised.
package synth
