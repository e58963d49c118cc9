#!/bin/sh
# Records mllp.pcap on loopback (Debian bookworm: apt-get install -y
# python3-hl7 tcpdump). All messages are synthetic: PID-5 is ZZTESTPATIENT,
# OBX/NTE values contain ZZRESULT, markers the tests assert never leak.
set -eu
cd "$(dirname "$0")"
PORT=2575
tcpdump -i lo -U -w mllp.pcap "tcp port $PORT" & DUMP=$!
/usr/bin/python3 ackserver.py $PORT & SERVER=$!
sleep 1
# Connection 1: Debian's mllp_send client, four messages (AA, AA, AE, AR).
mllp_send --loose -f messages.hl7 -p $PORT 127.0.0.1
# Connection 2: a 23 KB message in 512-byte writes, then two messages in
# one write.
/usr/bin/python3 chunked_send.py $PORT big.hl7 first.hl7 second.hl7
sleep 1
kill $SERVER $DUMP
wait $DUMP || true
