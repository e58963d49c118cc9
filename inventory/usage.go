package inventory

import (
	"math/bits"
	"time"
)

// DayUsage is a device's utilisation on one day of the hospital's time
// zone.
type DayUsage struct {
	Day string `json:"day"` // 2006-01-02
	// HoursMask has bit h set when the device had traffic during hour h;
	// ActiveHours counts them.
	HoursMask     uint32 `json:"hours_mask"`
	ActiveHours   int    `json:"active_hours"`
	Flows         uint64 `json:"flows"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	// Work is the clinical work done, from the dissectors' counters:
	// dicom.associations (opened as a client), dicom.objects_sent,
	// dicom.objects_received, dicom.associations_accepted,
	// hl7.messages_sent, hl7.messages_received.
	Work map[string]uint64 `json:"work,omitempty"`
}

// work maps flow counters (events.Flow.App) to the work of the
// originator and of the responder.
var work = map[string][2]string{
	"dicom.associations":  {"dicom.associations", "dicom.associations_accepted"},
	"dicom.c_store_rq":    {"dicom.objects_sent", "dicom.objects_received"},
	"dicom.c_find_rq":     {"dicom.queries", "dicom.queries_answered"},
	"dicom.c_move_rq":     {"dicom.retrievals", "dicom.retrievals_served"},
	"dicom.c_get_rq":      {"dicom.retrievals", "dicom.retrievals_served"},
	"hl7.messages":        {"hl7.messages_sent", "hl7.messages_received"},
	"poct1a.observations": {"poct1a.results_sent", "poct1a.results_received"},
}

// use adds a flow's share to the device's days: bytes and counters to the
// day the flow reported them, active hours over the span it covered.
func (m *Model) use(d *Device, from, to time.Time, sent, recv uint64, ended, orig bool, app map[string]uint64) {
	if to.Before(from) {
		from = to
	}
	day := m.day(d, to)
	if day == nil {
		return
	}
	day.BytesSent += sent
	day.BytesReceived += recv
	if ended {
		day.Flows++
	}
	for k, n := range app {
		names, ok := work[k]
		if !ok || n == 0 {
			continue
		}
		name := names[0]
		if !orig {
			name = names[1]
		}
		if day.Work == nil {
			day.Work = map[string]uint64{}
		}
		day.Work[name] += n
	}
	// Mark the hours covered, at most a day's worth back.
	if to.Sub(from) > 24*time.Hour {
		from = to.Add(-24 * time.Hour)
	}
	for h := from.In(m.zone).Truncate(time.Hour); !h.After(to); h = h.Add(time.Hour) {
		if dd := m.day(d, h); dd != nil {
			dd.HoursMask |= 1 << uint(h.In(m.zone).Hour())
			dd.ActiveHours = bits.OnesCount32(dd.HoursMask)
		}
	}
}

// day returns the usage record of the day of t, creating it; days older
// than the retention are dropped, and a day before the oldest kept is
// ignored (nil).
func (m *Model) day(d *Device, t time.Time) *DayUsage {
	key := t.In(m.zone).Format(time.DateOnly)
	for i := len(d.Usage) - 1; i >= 0; i-- {
		switch {
		case d.Usage[i].Day == key:
			return &d.Usage[i]
		case d.Usage[i].Day < key:
			d.Usage = append(d.Usage, DayUsage{})
			copy(d.Usage[i+2:], d.Usage[i+1:])
			d.Usage[i+1] = DayUsage{Day: key}
			return m.trimDays(d, key)
		}
	}
	if len(d.Usage) >= m.cfg.UsageDays {
		return nil
	}
	d.Usage = append([]DayUsage{{Day: key}}, d.Usage...)
	return &d.Usage[0]
}

func (m *Model) trimDays(d *Device, key string) *DayUsage {
	if extra := len(d.Usage) - m.cfg.UsageDays; extra > 0 {
		d.Usage = append(d.Usage[:0], d.Usage[extra:]...)
	}
	for i := range d.Usage {
		if d.Usage[i].Day == key {
			return &d.Usage[i]
		}
	}
	return nil
}
