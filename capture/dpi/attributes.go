package dpi

// Attribute names that dissectors publish in Observation.Attribute. The
// generic names (no dot) are the ones the inventory fuses across protocols
// and classification and vulnerability matching read; dotted names are
// protocol-specific evidence. A dissector that learns a generic fact (a
// vendor from POCT1-A, a hostname from mDNS) publishes the generic name
// with its own Protocol, so the inventory can weigh the sources.
//
// Keep this list the single vocabulary: docs/sensor.md documents each
// name and the inventory's source priorities refer to them.
const (
	// Generic identity.
	AttrHostname        = "hostname"
	AttrVendor          = "vendor"
	AttrModel           = "model"
	AttrSerial          = "serial"
	AttrFirmwareVersion = "firmware_version"
	AttrSoftwareVersion = "software_version"
	AttrHardwareVersion = "hardware_version"
	AttrOS              = "os"
	AttrIP              = "ip"
	// AttrCleartextCredential is evidence that the device sent or accepted
	// a credential in clear text. Its value names the protocol and method
	// ("telnet login", "snmp community", "http basic"), never the secret.
	AttrCleartextCredential = "cleartext_credential"
	// AttrInsecureProtocol names an obsolete or insecure protocol the
	// device uses ("smb1", "telnet", "ftp", "tls1.0", "snmpv1").
	AttrInsecureProtocol = "insecure_protocol"

	// DICOM (PS3.8 upper layer, PS3.7 DIMSE, equipment module of PS3.3).
	AttrDICOMAETitle         = "dicom.ae_title"
	AttrDICOMImplClassUID    = "dicom.implementation_class_uid"
	AttrDICOMImplVersion     = "dicom.implementation_version"
	AttrDICOMModality        = "dicom.modality"
	AttrDICOMSOPClass        = "dicom.sop_class"
	AttrDICOMRole            = "dicom.role" // "scu" or "scp"
	AttrDICOMStationName     = "dicom.station_name"
	AttrDICOMInstitutionName = "dicom.institution_name"

	// HL7 v2 (MSH segment).
	AttrHL7SendingApplication   = "hl7.sending_application"
	AttrHL7SendingFacility      = "hl7.sending_facility"
	AttrHL7ReceivingApplication = "hl7.receiving_application"
	AttrHL7ReceivingFacility    = "hl7.receiving_facility"
	AttrHL7MessageType          = "hl7.message_type"
	AttrHL7Version              = "hl7.version"

	// DHCP and DHCPv6.
	AttrDHCPVendorClass = "dhcp.vendor_class"
	AttrDHCPFingerprint = "dhcp.fingerprint"
	AttrDHCPClientID    = "dhcp.client_id"
	AttrDHCPFQDN        = "dhcp.fqdn"
	AttrDHCPRequestedIP = "dhcp.requested_ip"

	// LLDP and CDP.
	AttrLLDPChassisID    = "lldp.chassis_id"
	AttrLLDPSystemName   = "lldp.system_name"
	AttrLLDPSystemDescr  = "lldp.system_description"
	AttrLLDPPortID       = "lldp.port_id"
	AttrLLDPPortDescr    = "lldp.port_description"
	AttrLLDPMgmtAddress  = "lldp.management_address"
	AttrLLDPCapabilities = "lldp.capabilities"
	AttrCDPDeviceID      = "cdp.device_id"
	AttrCDPPlatform      = "cdp.platform"
	AttrCDPPortID        = "cdp.port_id"

	// SNMP MIB-2 system group, from responses.
	AttrSNMPSysDescr    = "snmp.sys_descr"
	AttrSNMPSysObjectID = "snmp.sys_object_id"
	AttrSNMPSysName     = "snmp.sys_name"
	AttrSNMPSysLocation = "snmp.sys_location"
	AttrSNMPSysContact  = "snmp.sys_contact"

	// Name services and discovery.
	AttrMDNSService  = "mdns.service"
	AttrMDNSTXT      = "mdns.txt"
	AttrSSDPServer   = "ssdp.server"
	AttrSSDPUSN      = "ssdp.usn"
	AttrNetBIOSName  = "netbios.name"
	AttrNetBIOSGroup = "netbios.workgroup"
	AttrDNSQuery     = "dns.query"

	// Application banners and fingerprints.
	AttrHTTPUserAgent  = "http.user_agent"
	AttrHTTPServer     = "http.server"
	AttrHTTPHost       = "http.host"
	AttrTLSSNI         = "tls.sni"
	AttrTLSJA4         = "tls.ja4"
	AttrTLSVersion     = "tls.version"
	AttrTLSCertSubject = "tls.cert_subject"
	AttrTLSCertIssuer  = "tls.cert_issuer"
	AttrSSHBanner      = "ssh.banner"
	AttrSSHHASSH       = "ssh.hassh"
	AttrSSHHASSHServer = "ssh.hassh_server"
	AttrTelnetBanner   = "telnet.banner"
	AttrFTPBanner      = "ftp.banner"
	AttrSMBDialect     = "smb.dialect"
	AttrNTLMHost       = "ntlm.host"
	AttrNTLMDomain     = "ntlm.domain"
	AttrRDPClientName  = "rdp.client_name"
	AttrRDPClientBuild = "rdp.client_build"
	AttrNTPServer      = "ntp.server"
	AttrSyslogHostname = "syslog.hostname"

	// Building automation and industrial protocols.
	AttrBACnetDeviceInstance = "bacnet.device_instance"
	AttrBACnetVendorID       = "bacnet.vendor_id"
	AttrBACnetObjectName     = "bacnet.object_name"
	AttrENIPProductName      = "enip.product_name"
	AttrENIPVendorID         = "enip.vendor_id"
	AttrENIPDeviceType       = "enip.device_type"
	AttrModbusVendor         = "modbus.vendor"
	AttrModbusProductCode    = "modbus.product_code"
)
