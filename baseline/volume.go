package baseline

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-health/vigil/events"
)

// volume is a device's traffic per clock hour. While the device learns,
// the totals of its whole learning hours go into a histogram; when
// learning ends, only their 95th percentile is kept, and the bytes of the
// current hour are compared with it.
type volume struct {
	started bool
	hour    int64  // the clock hour being summed (Unix seconds / 3600)
	bytes   uint64 // bytes moved in hour
	hist    *volumeHist
	learned bool   // the profile is final
	samples int    // whole clock hours learned
	p95     uint64 // bytes per hour: the upper bound of the p95's bucket
	raised  int64  // hour of the last volume_spike, 0 for none
}

// volumeHist counts learned hourly totals in log-linear buckets: four
// per power of two, so a bucket spans at most a quarter of its lower
// bound, and 252 buckets cover every uint64. Counts saturate.
type volumeHist [volumeBuckets]uint16

const volumeBuckets = 252

// bucketOf is the histogram bucket of b bytes.
func bucketOf(b uint64) int {
	if b < 4 {
		return int(b)
	}
	l := bits.Len64(b)
	return 4*(l-2) + (int(b>>(l-3)) & 3)
}

// bucketHigh is the largest value of bucket i.
func bucketHigh(i int) uint64 {
	if i < 4 {
		return uint64(i)
	}
	shift := i/4 - 1
	lo := uint64(4+i%4) << shift
	return lo + (1 << shift) - 1
}

func (h *volumeHist) add(b uint64, n int64) {
	i := bucketOf(b)
	h[i] = uint16(min(int64(h[i])+n, math.MaxUint16))
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (nearest rank) of the counted values, and how many there are.
func (h *volumeHist) quantile(q float64) (uint64, int) {
	n := 0
	for _, c := range h {
		n += int(c)
	}
	if n == 0 {
		return 0, 0
	}
	rank := int(math.Ceil(q * float64(n)))
	seen := 0
	for i, c := range h {
		seen += int(c)
		if seen >= rank {
			return bucketHigh(i), n
		}
	}
	return bucketHigh(volumeBuckets - 1), n
}

func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

// wholeHours returns the first and last clock hours lying entirely within
// [from, to); last < first when there is none.
func wholeHours(from, to time.Time) (first, last int64) {
	first = hourOf(from)
	if !from.Equal(time.Unix(first*3600, 0)) {
		first++
	}
	return first, hourOf(to) - 1
}

// record adds the total of clock hour h to the histogram when h is a whole
// learning hour, and zero totals for the hours in (h, until) that saw no
// traffic.
func (v *volume) record(h int64, bytes uint64, until, first, last int64) {
	if h >= first && h <= last {
		v.hist.add(bytes, 1)
	}
	if lo, hi := max(h+1, first), min(until-1, last); hi >= lo {
		v.hist.add(0, hi-lo+1)
	}
}

// finish closes the learning: the hours after the last one with traffic
// are empty ones.
func (v *volume) finish(first, last int64) {
	if v.hist == nil {
		v.hist = new(volumeHist)
	}
	if v.started {
		v.record(v.hour, v.bytes, last+1, first, last)
	} else {
		v.record(first-1, 0, last+1, first, last)
	}
	v.p95, v.samples = v.hist.quantile(0.95)
	v.hist, v.learned, v.started, v.bytes = nil, true, false, 0
}

// volume adds a flow's bytes to a device's hour at event time at. While
// the device learns they build its profile; afterwards an hour above
// max(VolumeFactor × p95, VolumeFloorBytes) raises one volume_spike per
// device and clock hour, naming the flow that crossed the threshold.
// Devices whose learning held fewer than VolumeMinHours whole hours are
// not judged.
func (m *Model) volume(d *device, at time.Time, bytes uint64, f events.Flow, peer events.Endpoint, dir string, emit func(events.Deviation)) {
	v := &d.vol
	h := hourOf(at)
	end := m.learnEnd(d)
	if !v.learned {
		first, last := wholeHours(m.learnStart(d), end)
		if at.Before(end) {
			if v.hist == nil {
				v.hist = new(volumeHist)
			}
			if !v.started {
				v.started, v.hour = true, h
			}
			if h > v.hour {
				v.record(v.hour, v.bytes, h, first, last)
				v.hour, v.bytes = h, 0
			}
			v.bytes += bytes // a late flow of an earlier hour counts in this one
			return
		}
		v.finish(first, last)
	}
	if !v.started || h > v.hour {
		v.started, v.hour, v.bytes = true, h, 0
	}
	v.bytes += bytes
	if v.samples < m.cfg.VolumeMinHours || v.raised == v.hour {
		return
	}
	threshold := max(uint64(min(float64(v.p95)*m.cfg.VolumeFactor, math.MaxUint64/2)), m.cfg.VolumeFloorBytes)
	if v.bytes <= threshold {
		return
	}
	v.raised = v.hour
	ctx := m.context(d, at)
	ctx.Metric, ctx.Observed, ctx.Learned, ctx.Threshold, ctx.Samples = "bytes_per_hour", float64(v.bytes), float64(v.p95), float64(threshold), v.samples
	times := "above"
	if v.p95 > 0 {
		ctx.Ratio = math.Round(float64(v.bytes)/float64(v.p95)*100) / 100
		times = strconv.FormatFloat(ctx.Ratio, 'f', -1, 64) + "×"
	}
	p := &events.Endpoint{MAC: peer.MAC, IP: peer.IP}
	if dir == "outbound" {
		p.Port = peer.Port
	}
	hourStart := time.Unix(v.hour*3600, 0).In(m.zone)
	emit(events.Deviation{
		Type: events.DeviationVolumeSpike, Device: m.snapshot(d), Direction: dir, Peer: p,
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Summary: fmt.Sprintf("%s moved %s in the hour from %s, %s its learned 95th percentile of %s per hour over %d hours (threshold %s); the flow that crossed it: %s %s/%d.",
			d.label(), humanBytes(v.bytes), hourStart.Format("2006-01-02 15:04 MST"), times, humanBytes(v.p95), v.samples,
			humanBytes(threshold), peerWord(dir, peer.IP), f.Transport, f.Resp.Port),
		Baseline: ctx, Evidence: []string{f.FlowID},
	})
}

func peerWord(dir, ip string) string {
	if dir == "outbound" {
		return "to " + ip
	}
	return "from " + ip
}

// flowBytes returns the bytes a flow event adds: its totals minus those
// of the flow's previous event. Flows published at start or update are
// remembered until their end (at most maxOpenFlows; past that their
// totals are counted again at the next event, and counted in Stats).
func (m *Model) flowBytes(f events.Flow) uint64 {
	total := f.OrigBytes + f.RespBytes
	prev, seen := m.open[f.FlowID]
	if f.Phase == events.FlowEnd {
		delete(m.open, f.FlowID)
	} else if seen || len(m.open) < maxOpenFlows {
		m.open[f.FlowID] = total
	} else {
		m.flowsUntracked++
	}
	if total < prev {
		return 0
	}
	return total - prev
}

// hours learns the hours of the day in which a device originates
// established flows and, once it is ready, raises off_hours the first time
// it does so in an hour it never used while learning (once per device and
// hour of the day). Only devices whose learning window spanned
// OffHoursMinLearning and that originated something while learning are
// judged: a shorter window leaves most hours unobserved, and a device
// that never originates (a server) has no hours to compare with. A device
// seen after the start of the global window was watched, idle, since that
// start.
func (m *Model) hours(d *device, f events.Flow, emit func(events.Deviation)) {
	h := f.Start.In(m.zone).Hour()
	bit := uint32(1) << h
	if !m.ready(d, f.Start) {
		d.activeHours |= bit
		return
	}
	if d.activeHours == 0 || d.activeHours&bit != 0 || d.offRaised&bit != 0 {
		return
	}
	if m.learnEnd(d).Sub(m.learnStart(d)) < m.cfg.OffHoursMinLearning {
		return
	}
	d.offRaised |= bit
	ctx := m.context(d, f.Start)
	for i := range 24 {
		if d.activeHours&(1<<i) != 0 {
			ctx.ActiveHours = append(ctx.ActiveHours, i)
		}
	}
	emit(events.Deviation{
		Type: events.DeviationOffHours, Device: m.snapshot(d), Direction: "outbound",
		Peer:      &events.Endpoint{MAC: f.Resp.MAC, IP: f.Resp.IP, Port: f.Resp.Port},
		Transport: f.Transport, Port: f.Resp.Port, AppProto: f.AppProto,
		Attribute: "hour_of_day", Value: strconv.Itoa(h),
		Summary: fmt.Sprintf("%s was active between %02d:00 and %02d:00 (%s), an hour of the day it never used while learning (active hours: %s); first flow to %s on %s/%d.",
			d.label(), h, (h+1)%24, m.zone, hourRanges(d.activeHours), f.Resp.IP, f.Transport, f.Resp.Port),
		Baseline: ctx, Evidence: []string{f.FlowID},
	})
}

// hourRanges writes an hour mask as "07-18, 22".
func hourRanges(mask uint32) string {
	var parts []string
	for h := 0; h < 24; h++ {
		if mask&(1<<h) == 0 {
			continue
		}
		end := h
		for end+1 < 24 && mask&(1<<(end+1)) != 0 {
			end++
		}
		if end == h {
			parts = append(parts, fmt.Sprintf("%02d", h))
		} else {
			parts = append(parts, fmt.Sprintf("%02d-%02d", h, end))
		}
		h = end
	}
	return strings.Join(parts, ", ")
}

// humanBytes writes a byte count with a binary unit.
func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(b)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
