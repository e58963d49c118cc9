#!/bin/sh
# record.sh DIR: records the DICOM test captures of this directory on
# loopback with Debian's dcmtk 3.6.7 (storescp, storescu, echoscu, findscu,
# getscu, dcmqrscp) and pydicom's sample files, modified with synthetic
# equipment values and a synthetic patient marker (ZZTEST^PATIENT,
# ZZTESTID01). Run as root (tcpdump). It starts its own servers and ends
# them by PID.
set -eu
OUT=${1:-.}
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT INT TERM
cd "$W"
T=/usr/lib/python3/dist-packages/pydicom/data/test_files
cp $T/CT_small.dcm ct1.dcm; cp $T/MR_small.dcm mr1.dcm
cp $T/MR_small_implicit.dcm mr_impl.dcm; cp $T/MR_small_bigendian.dcm mr_be.dcm
dcmodify -nb -i "(0008,0070)=VigilTest Medical" -i "(0008,1090)=VT-CT 64" \
  -i "(0018,1000)=VTCT-0001" -i "(0018,1020)=VT 1.2.3" -i "(0008,1010)=VTCT01" \
  -i "(0008,0080)=Vigil Test Hospital" -m "(0010,0010)=ZZTEST^PATIENT" \
  -m "(0010,0020)=ZZTESTID01" ct1.dcm
for f in mr1.dcm mr_impl.dcm mr_be.dcm; do
  dcmodify -nb -i "(0008,0070)=VigilTest MR Systems" -i "(0008,1090)=VT-MR 3T" \
    -i "(0018,1000)=VTMR-0042" -i "(0018,1020)=MRSW 7.1\\PATCH 2" -i "(0008,1010)=VTMR01" \
    -i "(0008,0080)=Vigil Test Hospital" -m "(0010,0010)=ZZTEST^PATIENT" \
    -m "(0010,0020)=ZZTESTID01" $f
done
cp ct1.dcm ct2.dcm; dcmodify -nb -gin ct2.dcm   # a second CT instance

SCP=41104   # storescp
QR=41105    # dcmqrscp

# capture NAME PORT CMD...: records CMD's traffic on PORT into OUT/NAME.pcap.
capture() {
  name=$1 port=$2; shift 2
  tcpdump -i lo -s 0 -U -w "$OUT/$name.pcap" "tcp port $port" 2>/dev/null &
  tp=$!; sleep 1
  "$@" || true
  sleep 1; kill "$tp"; wait "$tp" 2>/dev/null || true
}
# scp ARGS...: starts storescp on $SCP in the background.
scp() { storescp "$@" -od "$W/in" $SCP & SCPPID=$!; PIDS="$PIDS $SCPPID"; sleep 1; }
mkdir -p in db out

scp -aet PACS
capture store-explicit $SCP storescu -R -aet VT_CT_SCANNER -aec PACS 127.0.0.1 $SCP ct1.dcm ct2.dcm
capture echo $SCP echoscu -aet VT_ECHO -aec PACS 127.0.0.1 $SCP
kill $SCPPID; sleep 1

scp -aet PACS +xi
capture store-implicit $SCP storescu -aet VT_MR_SCANNER -aec PACS 127.0.0.1 $SCP mr_impl.dcm
kill $SCPPID; sleep 1

scp -aet PACS +xb
capture store-bigendian $SCP storescu -R -xb -aet VT_MR_SCANNER -aec PACS 127.0.0.1 $SCP mr_be.dcm
kill $SCPPID; sleep 1

scp -aet PACS --abort-after
capture abort $SCP storescu -R -aet VT_MR_SCANNER -aec PACS 127.0.0.1 $SCP mr1.dcm
kill $SCPPID; sleep 1

cat > dcmqrscp.cfg <<CFG
NetworkTCPPort = $QR
MaxPDUSize = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
ARCHIVE $W/db RW (20, 64mb) ANY
AETable END
CFG
# dcmqrscp forks per association (its single-process mode crashes in 3.6.7).
dcmqrscp -c dcmqrscp.cfg & QRPID=$!; PIDS="$PIDS $QRPID"; sleep 1
storescu -R -aet VT_CT_SCANNER -aec ARCHIVE 127.0.0.1 $QR ct1.dcm   # not recorded: fills the archive
STUDY=$(dcmdump -q +P 0020,000d ct1.dcm | sed 's/.*\[\(.*\)\].*/\1/')
capture find $QR findscu -S -aet VT_WORKSTATION -aec ARCHIVE -k QueryRetrieveLevel=STUDY \
  -k PatientName -k PatientID -k StudyInstanceUID 127.0.0.1 $QR
capture get $QR getscu -S -aet VT_WORKSTATION -aec ARCHIVE -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$STUDY" -od out 127.0.0.1 $QR
capture reject $QR echoscu -aet VT_ECHO -aec WRONG_AE 127.0.0.1 $QR
kill $QRPID
